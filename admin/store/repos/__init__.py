"""One repository per table family; each takes the Store and works inside its transaction."""

from admin.store.repos.audit import Audit
from admin.store.repos.groups import Groups
from admin.store.repos.list_events import ListEvents
from admin.store.repos.node_state import NodeState
from admin.store.repos.overrides import Overrides
from admin.store.repos.pauses import Pauses
from admin.store.repos.query_log import QueryLog
from admin.store.repos.reports import Reports
from admin.store.repos.sessions import Sessions
from admin.store.repos.stats import Stats
from admin.store.repos.tokens import Tokens
from admin.store.repos.users import Users

__all__ = [
    "Audit", "Groups", "ListEvents", "NodeState", "Overrides", "Pauses", "QueryLog",
    "Reports", "Sessions", "Stats", "Tokens", "Users",
]
