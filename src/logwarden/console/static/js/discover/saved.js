// Saved searches (/api/v1/saved-searches): a menu to open one, and a name field to save the current search.

import { apiGet, apiPost } from "../api.js";
import { h } from "../dom.js";

/** createSavedMenu({current(), onOpen(saved)}) → {el} */
export function createSavedMenu({ current, onOpen }) {
  const list = h("ul", { class: "saved-list" });
  const name = h("input", { type: "text", class: "saved-name", placeholder: "Name this search", "aria-label": "Saved search name" });
  const message = h("div", { class: "saved-message", role: "status" });
  const form = h(
    "form",
    { class: "saved-form", onsubmit: (e) => (e.preventDefault(), save()) },
    name,
    h("button", { type: "submit", class: "primary" }, "Save"),
  );
  const el = h(
    "details",
    { class: "saved" },
    h("summary", {}, "Saved ▾"),
    h("div", { class: "popover saved-menu" }, form, message, list),
  );

  async function load() {
    list.replaceChildren(h("li", { class: "muted" }, "Loading…"));
    try {
      const body = await apiGet("/api/v1/saved-searches");
      const items = body.saved_searches || [];
      list.replaceChildren(
        ...(items.length
          ? items.map((s) =>
              h(
                "li",
                {},
                h("button", { type: "button", class: "saved-item", title: s.query || "(every line)", onclick: () => ((el.open = false), onOpen(s)) }, s.name),
              ),
            )
          : [h("li", { class: "muted" }, "No saved searches yet.")]),
      );
    } catch (err) {
      list.replaceChildren(h("li", { class: "error-message" }, err.message));
    }
  }

  async function save() {
    const state = current();
    try {
      await apiPost("/api/v1/saved-searches", { name: name.value.trim(), query: state.q, start: state.start, end: state.end || null });
      message.textContent = `Saved “${name.value.trim()}”.`;
      message.className = "saved-message muted";
      name.value = "";
      load();
    } catch (err) {
      message.textContent = err.message;
      message.className = "saved-message error-message";
    }
  }

  el.addEventListener("toggle", () => {
    if (el.open) {
      message.textContent = "";
      load();
      name.focus();
    }
  });
  window.addEventListener("lw:escape", () => (el.open = false));
  return { el };
}
