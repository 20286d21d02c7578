// Entry module: theme, navigation, global keys, then the page the server named in <body data-page>.

import { h } from "./dom.js";
import { sendFirstSearch } from "./discover/first.js";
import { PAGES } from "./pages.js";
import { can, installUserMenu } from "./login/session.js";
import { carryRange } from "./state.js";
import { applyStoredTheme, toggleTheme } from "./theme.js";

applyStoredTheme();

function buildNav(current) {
  const nav = document.getElementById("nav");
  if (current === "login") return; // nothing to navigate to before a login
  const sections = new Set();
  for (const page of PAGES) {
    if (page.needs && !can(page.needs)) continue; // per-role views: pages the role may not use are not offered
    if (page.section) {
      // One nav link per section (Admin), to its first page the role may use; active on any of its pages.
      if (sections.has(page.section)) continue;
      sections.add(page.section);
      const active = PAGES.some((p) => p.section === page.section && p.name === current);
      nav.append(h("a", { href: page.path, class: active ? "active" : null, "aria-current": active ? "page" : null, dataset: { section: page.section } }, page.sectionTitle));
      continue;
    }
    if (page.nav === false) continue;
    nav.append(
      h("a", { href: page.path, class: page.name === current ? "active" : null, "aria-current": page.name === current ? "page" : null }, page.title),
    );
  }
}

function isTyping(target) {
  return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

function installKeys() {
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && !isTyping(event.target) && !event.ctrlKey && !event.metaKey && !event.altKey) {
      const search = document.querySelector("[data-search]");
      if (search) {
        event.preventDefault();
        search.focus();
        search.select();
      }
    } else if (event.key === "Escape" && !document.querySelector("dialog[open]")) {
      // (An open dialog takes Esc for itself; what is under it stays as it was.)
      // Popovers, completion lists and expanded rows close themselves on this event.
      window.dispatchEvent(new CustomEvent("lw:escape"));
    }
  });
}

function start() {
  const name = document.body.dataset.page || "discover";
  if (name === "discover") sendFirstSearch(); // the search runs while Discover's modules load
  buildNav(name);
  carryRange(document.getElementById("nav")); // the time range goes along to Discover, Dashboards, Patterns
  installKeys();
  document.getElementById("theme-toggle").addEventListener("click", toggleTheme);
  installUserMenu();
  const page = PAGES.find((p) => p.name === name) || PAGES[0];
  const container = document.getElementById("page");
  container.replaceChildren();
  // Page modules load on demand (pages.js): the mount resolves once the page's module is in.
  Promise.resolve(page.mount(container)).then((mounted) => window.addEventListener("popstate", () => mounted?.onUrlChange?.()));
}

start();
