# Written by scripts/openwrt-deps: pure-Python wheels of what the feed lacks.
# Each is installed beside Straja by Build/Compile in the Makefile.

STRAJA_BUNDLED_WHEELS:= \
	aiohappyeyeballs-2.7.1-py3-none-any.whl \
	aiohttp-3.14.5-py3-none-any.whl \
	aiosignal-1.4.0-py3-none-any.whl \
	alembic-1.20.1-py3-none-any.whl \
	dnslib-0.9.26-py3-none-any.whl \
	frozenlist-1.8.0-py3-none-any.whl \
	mako-1.4.3-py3-none-any.whl \
	multidict-7.2.1-py3-none-any.whl \
	prometheus_client-0.26.0-py3-none-any.whl \
	propcache-0.5.4-py3-none-any.whl \
	yarl-1.25.1-py3-none-any.whl

define Download/straja-aiohappyeyeballs
  URL:=https://files.pythonhosted.org/packages/py3/a/aiohappyeyeballs/
  FILE:=aiohappyeyeballs-2.7.1-py3-none-any.whl
  HASH:=9243213661e29250eb41368e5daa826fc017156c3b8a11440826b2e3ed376472
endef
$(eval $(call Download,straja-aiohappyeyeballs))

define Download/straja-aiohttp
  URL:=https://files.pythonhosted.org/packages/py3/a/aiohttp/
  FILE:=aiohttp-3.14.5-py3-none-any.whl
  HASH:=efc21a454892828368b11c2c780de0ff8bc991f73f6b99c6b66e56205470929b
endef
$(eval $(call Download,straja-aiohttp))

define Download/straja-aiosignal
  URL:=https://files.pythonhosted.org/packages/py3/a/aiosignal/
  FILE:=aiosignal-1.4.0-py3-none-any.whl
  HASH:=053243f8b92b990551949e63930a839ff0cf0b0ebbe0597b0f3fb19e1a0fe82e
endef
$(eval $(call Download,straja-aiosignal))

define Download/straja-alembic
  URL:=https://files.pythonhosted.org/packages/py3/a/alembic/
  FILE:=alembic-1.20.1-py3-none-any.whl
  HASH:=9970712cfb81ea26c8658d378aaa5b8f6ff9146e5bb111d70497c164016cf598
endef
$(eval $(call Download,straja-alembic))

define Download/straja-dnslib
  URL:=https://files.pythonhosted.org/packages/py3/d/dnslib/
  FILE:=dnslib-0.9.26-py3-none-any.whl
  HASH:=e68719e633d761747c7e91bd241019ef5a2b61a63f56025939e144c841a70e0d
endef
$(eval $(call Download,straja-dnslib))

define Download/straja-frozenlist
  URL:=https://files.pythonhosted.org/packages/py3/f/frozenlist/
  FILE:=frozenlist-1.8.0-py3-none-any.whl
  HASH:=0c18a16eab41e82c295618a77502e17b195883241c563b00f0aa5106fc4eaa0d
endef
$(eval $(call Download,straja-frozenlist))

define Download/straja-mako
  URL:=https://files.pythonhosted.org/packages/py3/m/mako/
  FILE:=mako-1.4.3-py3-none-any.whl
  HASH:=723296007c870bfd6b3f0c3230dba7198096e5269297ebf5e4eff9e7ffa39d4f
endef
$(eval $(call Download,straja-mako))

define Download/straja-multidict
  URL:=https://files.pythonhosted.org/packages/py3/m/multidict/
  FILE:=multidict-7.2.1-py3-none-any.whl
  HASH:=08ea94663d9e7c25d14d78222f7aee906c472d4837766bec62477c38f6e419dc
endef
$(eval $(call Download,straja-multidict))

define Download/straja-prometheus-client
  URL:=https://files.pythonhosted.org/packages/py3/p/prometheus_client/
  FILE:=prometheus_client-0.26.0-py3-none-any.whl
  HASH:=fa93d06737aa02bacd05794768508bb97d2fbee28cb3bca04eaae92f0ca953d6
endef
$(eval $(call Download,straja-prometheus-client))

define Download/straja-propcache
  URL:=https://files.pythonhosted.org/packages/py3/p/propcache/
  FILE:=propcache-0.5.4-py3-none-any.whl
  HASH:=62c60aec739ed00124573cce1178138fd690c7676352d67a37328c1cf51d7468
endef
$(eval $(call Download,straja-propcache))

define Download/straja-yarl
  URL:=https://files.pythonhosted.org/packages/py3/y/yarl/
  FILE:=yarl-1.25.1-py3-none-any.whl
  HASH:=681c758b0490f9e96b78e5fa8e8dc6e648e9185bb6eaebe73183c33ea0c445f3
endef
$(eval $(call Download,straja-yarl))
