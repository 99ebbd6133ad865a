"""One module per console section; importing this package registers every page in routing.ROUTER.
One line per section (`import shared.console.pages.<section>`: such lines are never merged by the formatter)."""

import shared.console.pages.alerts
import shared.console.pages.approvals
import shared.console.pages.audit
import shared.console.pages.entity_runs
import shared.console.pages.home
import shared.console.pages.playbooks
import shared.console.pages.runs
import shared.console.pages.tenants  # noqa: F401
