"""What the STOP page says: the translations, each deployment's default links, the language choice.

TEXTS maps a language code to the same keys; a value is plain text (never HTML) with
`{placeholders}` that the templates fill with escaped values or links. To add a language,
add its code to LANGUAGES, a dict with every key to TEXTS (tests check that the keys and
placeholders match English), and the code to StopPageSettings.language.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resolver.stoppage import StopPageSettings

LANGUAGES = ("en", "ro", "ru")


@dataclass(frozen=True, slots=True)
class Contacts:
    """The names, links and numbers one deployment's pages show."""

    operator_name: str | None
    helpline_name: str
    helpline_url: str | None
    helpline_phone: str | None
    hotline_name: str
    hotline_url: str
    help_service_name: str
    help_service_url: str
    organisation_name: str | None
    organisation_url: str | None
    contact: str | None


DEPLOYMENTS: dict[str, Contacts] = {
    # Telefonul Copilului 116 111: the national child helpline (free, anonymous, 24/7), a
    # member of Child Helpline International. Siguronline.md: the national platform on
    # children's online safety, where illegal content is reported. La Strada Moldova runs it.
    "moldova": Contacts(
        operator_name=None,
        helpline_name="Telefonul Copilului",
        helpline_url="https://telefonulcopilului.md",
        helpline_phone="116 111",
        hotline_name="Siguronline.md",
        hotline_url="https://siguronline.md",
        help_service_name="Stop It Now",
        help_service_url="https://www.stopitnow.org",
        organisation_name="La Strada Moldova",
        organisation_url="https://lastrada.md",
        contact=None,
    ),
    # No phone number works everywhere: Child Helpline International lists each country's
    # helpline, INHOPE each country's hotline.
    "international": Contacts(
        operator_name=None,
        helpline_name="Child Helpline International",
        helpline_url="https://childhelplineinternational.org",
        helpline_phone=None,
        hotline_name="INHOPE",
        hotline_url="https://www.inhope.org",
        help_service_name="Stop It Now",
        help_service_url="https://www.stopitnow.org",
        organisation_name=None,
        organisation_url=None,
        contact=None,
    ),
}


def contacts_for(settings: StopPageSettings) -> Contacts:
    """The deployment's defaults with every key the settings set put in their place."""
    base = DEPLOYMENTS[settings.deployment]
    overrides = {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(Contacts)
        if getattr(settings, f.name) is not None
    }
    return dataclasses.replace(base, **overrides)


def pick_language(accept_language: str | None, fallback: str) -> str:
    """The best of LANGUAGES for an Accept-Language header (`ro-MD,ro;q=0.9,ru;q=0.8`).

    Ranges are ordered by q-value (ties keep header order); `ro-MD` matches `ro`; `q=0`
    excludes; `*` or no match gives `fallback`.
    """
    if not accept_language:
        return fallback
    ranked: list[tuple[float, int, str]] = []
    for order, part in enumerate(accept_language[:512].split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip().replace(" ", "")
        if params:
            if not params.startswith("q="):
                continue
            try:
                q = float(params[2:])
            except ValueError:
                continue
            if not 0 < q <= 1:
                continue
        ranked.append((-q, order, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        if tag == "*":
            return fallback
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return fallback


# The mandatory page speaks to an adult, soberly and formally. The other pages may be read by
# a child: calm, kind, no fear, informal in Romanian and Russian, no gendered forms.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "language_name": "English",
        "m_title": "Blocked by law",
        "m_heading": "Access to this site is blocked by law",
        "m_what": (
            "This address is on an official list of sites with child sexual abuse material. "
            "The law requires this network to block it."
        ),
        "m_harm": (
            "Child sexual abuse material shows real children being abused. Each time it is "
            "viewed or shared, the harm to them goes on. Viewing, downloading or sharing it "
            "is a crime."
        ),
        "m_help_heading": "Worried about your own thoughts or behaviour?",
        "m_help": (
            "Anonymous, confidential help exists for people worried about their sexual "
            "thoughts or behaviour towards children. Reaching out is a strong first step: "
            "{link}"
        ),
        "m_report": "If you came across such material somewhere else, report it to {hotline}.",
        "m_accident": "If you reached this page by mistake, you can simply close it.",
        "c_title": "This page is blocked",
        "c_heading": "This page is blocked",
        "c_reason_operator": "This network's filter blocks {name}.",
        "c_reason_operator_named": "This network's filter ({operator}) blocks {name}.",
        "c_reason_family": "This network's family filter blocks {name}.",
        "c_reason_family_named": "This network's family filter ({operator}) blocks {name}.",
        "c_list": "It is on the list “{list}”.",
        "c_category": "Category: {category}.",
        "c_fine": "You did nothing wrong.",
        "c_fine_more": (
            "Filters block some websites to keep everyone on this network safe. "
            "Sometimes they block a page by mistake."
        ),
        "c_talk_heading": "Did something online upset you?",
        "c_talk_phone": (
            "Talk to an adult you trust, like a parent or a teacher. "
            "You can also call {phone} ({helpline})."
        ),
        "c_talk_url": (
            "Talk to an adult you trust, like a parent or a teacher. "
            "You can also find a helpline for children in your country: {helpline}."
        ),
        "c_hotline": (
            "If you ever see something online that shows a child being hurt, "
            "you can report it to {hotline}."
        ),
        "c_organisation": "Tips for staying safe online: {organisation}.",
        "c_form_heading": "Does this look wrongly blocked?",
        "c_form_text": (
            "If you think {name} should not be blocked, you can tell the people who look "
            "after this network. Only the address and the list are sent, nothing about you."
        ),
        "c_form_button": "Report as wrongly blocked",
        "n_title": "Not blocked",
        "n_heading": "This address is not blocked",
        "n_text": (
            "{name} is not blocked on this network right now. If you just saw a block page, "
            "your device may still remember an old answer: wait a few minutes, then try again."
        ),
        "n_no_name": (
            "This is the information page of this network's filter. Nothing is blocked here."
        ),
        "r_thanks_title": "Thank you",
        "r_thanks": "Thank you! The people who look after this network will check {name}.",
        "r_duplicate": (
            "Thank you! {name} was already reported a short while ago; it will be checked."
        ),
        "r_back": "Back",
        "r_refused_title": "This cannot be reported",
        "r_not_blocked": "{name} is not blocked right now, so there is nothing to report.",
        "r_mandatory": "This address is blocked by law, so it cannot be reported here.",
        "r_bad": "The report could not be read. Please go back and try again.",
        "r_too_big": "The report is too long.",
        "r_busy": "There are too many reports right now. Please try again in a few minutes.",
        "r_off": "Reporting is switched off on this network.",
        "e_title": "Sorry",
        "e_method": "This kind of request is not supported here.",
        "e_error": "Something went wrong. Please try again later.",
        "footer": "STOP page of this network's filter (Straja).",
        "contact": "Questions about this filter? Write to {contact}.",
    },
    "ro": {
        "language_name": "Română",
        "m_title": "Blocat prin lege",
        "m_heading": "Accesul la acest site este blocat prin lege",
        "m_what": (
            "Această adresă se află pe o listă oficială de site-uri cu materiale de abuz "
            "sexual asupra copiilor. Legea obligă această rețea să o blocheze."
        ),
        "m_harm": (
            "Materialele de abuz sexual asupra copiilor arată copii reali care sunt abuzați. "
            "De fiecare dată când sunt privite sau distribuite, răul făcut acestor copii "
            "continuă. Vizionarea, descărcarea sau distribuirea lor este o infracțiune."
        ),
        "m_help_heading": "Vă îngrijorează propriile gânduri sau comportamentul?",
        "m_help": (
            "Există ajutor anonim și confidențial pentru persoanele îngrijorate de gândurile "
            "sau comportamentul lor sexual față de copii. A cere ajutor este un prim pas "
            "important: {link}"
        ),
        "m_report": (
            "Dacă ați întâlnit astfel de materiale în altă parte, raportați-le la {hotline}."
        ),
        "m_accident": "Dacă ați ajuns aici din greșeală, puteți pur și simplu închide pagina.",
        "c_title": "Această pagină este blocată",
        "c_heading": "Această pagină este blocată",
        "c_reason_operator": "Filtrul acestei rețele blochează adresa {name}.",
        "c_reason_operator_named": "Filtrul acestei rețele ({operator}) blochează adresa {name}.",
        "c_reason_family": "Filtrul pentru familie al acestei rețele blochează adresa {name}.",
        "c_reason_family_named": (
            "Filtrul pentru familie al acestei rețele ({operator}) blochează adresa {name}."
        ),
        "c_list": "Adresa se află pe lista „{list}”.",
        "c_category": "Categoria: {category}.",
        "c_fine": "Nu ai greșit cu nimic.",
        "c_fine_more": (
            "Filtrele blochează unele site-uri pentru ca toți cei din această rețea să fie în "
            "siguranță. Uneori blochează o pagină din greșeală."
        ),
        "c_talk_heading": "Te-a supărat ceva pe internet?",
        "c_talk_phone": (
            "Vorbește cu un adult în care ai încredere, de exemplu un părinte sau un profesor. "
            "Poți suna și la {phone} ({helpline})."
        ),
        "c_talk_url": (
            "Vorbește cu un adult în care ai încredere, de exemplu un părinte sau un profesor. "
            "Poți găsi și o linie de ajutor pentru copii din țara ta: {helpline}."
        ),
        "c_hotline": (
            "Dacă vezi vreodată pe internet ceva care arată un copil rănit, "
            "poți raporta la {hotline}."
        ),
        "c_organisation": "Sfaturi pentru siguranța pe internet: {organisation}.",
        "c_form_heading": "Crezi că pagina a fost blocată din greșeală?",
        "c_form_text": (
            "Dacă tu crezi că adresa {name} nu ar trebui blocată, poți anunța persoanele care "
            "au grijă de această rețea. Se trimit doar adresa și lista, nimic despre tine."
        ),
        "c_form_button": "Raportează blocarea greșită",
        "n_title": "Nu este blocată",
        "n_heading": "Această adresă nu este blocată",
        "n_text": (
            "Adresa {name} nu este blocată acum în această rețea. Dacă tocmai ai văzut o "
            "pagină de blocare, dispozitivul tău poate ține minte un răspuns vechi: așteaptă "
            "câteva minute și încearcă din nou."
        ),
        "n_no_name": (
            "Aceasta este pagina de informare a filtrului acestei rețele. "
            "Aici nu este blocat nimic."
        ),
        "r_thanks_title": "Mulțumim",
        "r_thanks": (
            "Mulțumim! Persoanele care au grijă de această rețea vor verifica adresa {name}."
        ),
        "r_duplicate": (
            "Mulțumim! Adresa {name} a fost deja raportată de curând și va fi verificată."
        ),
        "r_back": "Înapoi",
        "r_refused_title": "Nu poate fi raportată",
        "r_not_blocked": "Adresa {name} nu este blocată acum, deci nu e nimic de raportat.",
        "r_mandatory": "Această adresă este blocată prin lege, deci nu poate fi raportată aici.",
        "r_bad": "Raportul nu a putut fi citit. Întoarce-te și încearcă din nou.",
        "r_too_big": "Raportul este prea lung.",
        "r_busy": "Sunt prea multe rapoarte acum. Încearcă din nou peste câteva minute.",
        "r_off": "Raportarea este dezactivată în această rețea.",
        "e_title": "Ne pare rău",
        "e_method": "Acest tip de cerere nu este acceptat aici.",
        "e_error": "Ceva nu a funcționat. Încearcă din nou mai târziu.",
        "footer": "Pagina STOP a filtrului acestei rețele (Straja).",
        "contact": "Întrebări despre acest filtru? Scrie la {contact}.",
    },
    "ru": {
        "language_name": "Русский",
        "m_title": "Заблокировано по закону",
        "m_heading": "Доступ к этому сайту заблокирован по закону",
        "m_what": (
            "Этот адрес внесён в официальный список сайтов с материалами сексуального "
            "насилия над детьми. Закон обязывает эту сеть его блокировать."
        ),
        "m_harm": (
            "В материалах сексуального насилия над детьми — настоящие дети, которые "
            "подвергаются насилию. Каждый просмотр и каждая пересылка продолжают причинять им "
            "вред. Просмотр, скачивание или распространение таких материалов — преступление."
        ),
        "m_help_heading": "Вас беспокоят собственные мысли или поведение?",
        "m_help": (
            "Для людей, которых тревожат их сексуальные мысли или поведение по отношению к "
            "детям, есть анонимная и конфиденциальная помощь. Обратиться за ней — важный "
            "первый шаг: {link}"
        ),
        "m_report": "Если вы встретили такие материалы в другом месте, сообщите о них: {hotline}.",
        "m_accident": "Если вы попали сюда случайно, просто закройте эту страницу.",
        "c_title": "Эта страница заблокирована",
        "c_heading": "Эта страница заблокирована",
        "c_reason_operator": "Фильтр этой сети блокирует адрес {name}.",
        "c_reason_operator_named": "Фильтр этой сети ({operator}) блокирует адрес {name}.",
        "c_reason_family": "Семейный фильтр этой сети блокирует адрес {name}.",
        "c_reason_family_named": "Семейный фильтр этой сети ({operator}) блокирует адрес {name}.",
        "c_list": "Адрес находится в списке «{list}».",
        "c_category": "Категория: {category}.",
        "c_fine": "Твоей вины в этом нет.",
        "c_fine_more": (
            "Фильтры блокируют некоторые сайты, чтобы всем в этой сети было безопасно. "
            "Иногда они блокируют страницу по ошибке."
        ),
        "c_talk_heading": "Тебя что-то расстроило в интернете?",
        "c_talk_phone": (
            "Поговори со взрослым, которому доверяешь, например с родителем или учителем. "
            "Ещё можно позвонить по номеру {phone} ({helpline})."
        ),
        "c_talk_url": (
            "Поговори со взрослым, которому доверяешь, например с родителем или учителем. "
            "Телефон доверия для детей в твоей стране можно найти здесь: {helpline}."
        ),
        "c_hotline": (
            "Если ты увидишь в интернете что-то, где ребёнку причиняют боль, "
            "об этом можно сообщить сюда: {hotline}."
        ),
        "c_organisation": "Советы о безопасности в интернете: {organisation}.",
        "c_form_heading": "Кажется, страницу заблокировали по ошибке?",
        "c_form_text": (
            "Если ты думаешь, что адрес {name} не нужно блокировать, можно сообщить тем, кто "
            "отвечает за эту сеть. Отправляются только адрес и название списка, ничего о тебе."
        ),
        "c_form_button": "Сообщить об ошибке",
        "n_title": "Не заблокировано",
        "n_heading": "Этот адрес не заблокирован",
        "n_text": (
            "Адрес {name} сейчас не заблокирован в этой сети. Если только что появилась "
            "страница блокировки, устройство могло запомнить старый ответ: подожди несколько "
            "минут и попробуй снова."
        ),
        "n_no_name": (
            "Это информационная страница фильтра этой сети. Здесь ничего не заблокировано."
        ),
        "r_thanks_title": "Спасибо",
        "r_thanks": "Спасибо! Те, кто отвечает за эту сеть, проверят адрес {name}.",
        "r_duplicate": "Спасибо! Об адресе {name} уже недавно сообщили, его проверят.",
        "r_back": "Назад",
        "r_refused_title": "Сообщение не принято",
        "r_not_blocked": "Адрес {name} сейчас не заблокирован, поэтому сообщать не о чем.",
        "r_mandatory": "Этот адрес заблокирован по закону, поэтому о нём нельзя сообщить здесь.",
        "r_bad": "Не удалось прочитать сообщение. Вернись назад и попробуй ещё раз.",
        "r_too_big": "Сообщение слишком длинное.",
        "r_busy": "Сейчас слишком много сообщений. Попробуй снова через несколько минут.",
        "r_off": "В этой сети сообщения об ошибках отключены.",
        "e_title": "Извините",
        "e_method": "Такой запрос здесь не поддерживается.",
        "e_error": "Что-то пошло не так. Попробуй позже.",
        "footer": "Страница STOP фильтра этой сети (Straja).",
        "contact": "Вопросы об этом фильтре? Напиши на {contact}.",
    },
}
