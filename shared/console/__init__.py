"""The operator console: server-rendered HTML pages served at the app's root by triggers/console.py.

- web.py: the request and response types pages see;
- routing.py: the page table (`ROUTER.get/post`), one entry per page or form action;
- security.py: security headers (a CSP without unsafe-inline) and CSRF tokens bound to the signed-in principal;
- render.py: Jinja with autoescaping: every value is text unless a template says otherwise;
- dispatch.py: sign-in, role check, CSRF check, error pages: the one frame every page runs in;
- pages/: one module per section (alerts, runs, approvals, playbooks, ...), templates/ and static/ beside them.

Reading works without JavaScript: every page is complete HTML and every action is a form POST. Form actions live
under /actions/ (POST only), pages anywhere else (GET only), so a link can never act.
"""
