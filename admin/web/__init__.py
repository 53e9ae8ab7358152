"""The operator's web UI and JSON API on `admin.listen`: one aiohttp app, built by
`admin.web.app.build_app`, served by `admin.web.server.start_admin_ui` once DNS answers."""
