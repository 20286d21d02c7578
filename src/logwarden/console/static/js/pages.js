// The page registry: each page module registers itself; the router mounts the one the server named.
// Next pages (alerts, rules, silences, dashboards): add a module, register it here and its path in
// console/routes.py PAGES.

/** A page's mount, its module fetched only when the page is opened (Discover's first results wait for
 * Discover's modules alone); resolves to what the page's mount returns. */
function lazy(load, name) {
  return (container) => load().then((module) => module[name](container));
}

const mountAlerts = lazy(() => import("./alerts/page.js"), "mountAlerts");
const mountDashboards = lazy(() => import("./dashboards/page.js"), "mountDashboards");
const mountDiscover = lazy(() => import("./discover/page.js"), "mountDiscover");
const mountLogin = lazy(() => import("./login/page.js"), "mountLogin");
const mountPatterns = lazy(() => import("./patterns/page.js"), "mountPatterns");
const mountAdminAudit = lazy(() => import("./admin/pages.js"), "mountAdminAudit");
const mountAdminKeys = lazy(() => import("./admin/pages.js"), "mountAdminKeys");
const mountAdminUsers = lazy(() => import("./admin/pages.js"), "mountAdminUsers");
const mountRules = lazy(() => import("./rules/page.js"), "mountRules");
const mountSilences = lazy(() => import("./silences/page.js"), "mountSilences");
const mountReceivers = lazy(() => import("./receivers/page.js"), "mountReceivers");

export const PAGES = [
  { name: "discover", title: "Discover", path: "/", mount: mountDiscover },
  { name: "alerts", title: "Alerts", path: "/alerts", mount: mountAlerts },
  { name: "rules", title: "Rules", path: "/rules", mount: mountRules },
  { name: "silences", title: "Silences", path: "/silences", mount: mountSilences },
  { name: "patterns", title: "Patterns", path: "/patterns", mount: mountPatterns },
  { name: "dashboards", title: "Dashboards", path: "/dashboards", mount: mountDashboards },
  // Login and admin pages (js/login/, js/admin/): `needs` hides a page the role may not use from the nav;
  // a `section` shows as one nav link.
  // Receivers: linked from Alerts (its toolbar), not in the nav.
  { name: "receivers", title: "Receivers", path: "/receivers", mount: mountReceivers, nav: false },
  { name: "login", title: "Log in", path: "/login", mount: mountLogin, nav: false },
  { name: "admin-users", title: "Users", path: "/admin/users", mount: mountAdminUsers, needs: "users.admin", section: "admin", sectionTitle: "Admin" },
  { name: "admin-keys", title: "API keys", path: "/admin/keys", mount: mountAdminKeys, needs: "users.admin", section: "admin", sectionTitle: "Admin" },
  { name: "admin-audit", title: "Audit log", path: "/admin/audit", mount: mountAdminAudit, needs: "audit.read", section: "admin", sectionTitle: "Admin" },
];
