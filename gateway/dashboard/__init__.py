"""The dashboard: server-rendered pages (Jinja2) for sign-up, sign-in and every admin task, thin over the
same API. Pages read through the same projection queries as the API; their forms send JSON to the API
itself (static/dashboard.js), authenticated by the session cookie and its CSRF token, so every rule and
every audit entry exists once, with the actor `user:<id>`. Only sign-up, sign-in, sign-out and the
password change, which make or end a session, are handled here."""
