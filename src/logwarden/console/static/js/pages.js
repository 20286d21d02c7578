// The page registry: each page module registers itself; the router mounts the one the server named.
// Next pages (alerts, rules, silences, dashboards): add a module, register it here and its path in
// console/routes.py PAGES.

import { mountAlerts } from "./alerts/page.js";
import { mountDashboards } from "./dashboards/page.js";
import { mountDiscover } from "./discover/page.js";
import { mountRules } from "./rules/page.js";
import { mountSilences } from "./silences/page.js";

export const PAGES = [
  { name: "discover", title: "Discover", path: "/", mount: mountDiscover },
  { name: "alerts", title: "Alerts", path: "/alerts", mount: mountAlerts },
  { name: "rules", title: "Rules", path: "/rules", mount: mountRules },
  { name: "silences", title: "Silences", path: "/silences", mount: mountSilences },
  { name: "dashboards", title: "Dashboards", path: "/dashboards", mount: mountDashboards },
];
