// Entry module: theme, navigation, global keys, then the page the server named in <body data-page>.

import { h } from "./dom.js";
import { PAGES } from "./pages.js";
import { applyStoredTheme, toggleTheme } from "./theme.js";

applyStoredTheme();

function buildNav(current) {
  const nav = document.getElementById("nav");
  for (const page of PAGES) {
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
  buildNav(name);
  installKeys();
  document.getElementById("theme-toggle").addEventListener("click", toggleTheme);
  const page = PAGES.find((p) => p.name === name) || PAGES[0];
  const container = document.getElementById("page");
  container.replaceChildren();
  const mounted = page.mount(container);
  window.addEventListener("popstate", () => mounted.onUrlChange?.());
}

start();
