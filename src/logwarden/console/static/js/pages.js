// The page registry: each page module registers itself; the router mounts the one the server named.
// Next pages (alerts, rules, silences, dashboards): add a module, register it here and its path in
// console/routes.py PAGES.

import { mountDiscover } from "./discover/page.js";

export const PAGES = [{ name: "discover", title: "Discover", path: "/", mount: mountDiscover }];
