// Admin → Users (/admin/users): the tenant's users; add one, disable or enable one, change a role
// (GET|POST /api/v1/users, PUT /api/v1/users/{name}).

import { h } from "../dom.js";
import { principal } from "../login/session.js";
import { adminFrame, adminRequest, messageLine, roleSelect, shortTime } from "./client.js";

const USER_ROLES = ["admin", "editor", "viewer"];

export function mountAdminUsers(container) {
  const body = adminFrame(container, { title: "Users", permission: "users.admin", current: "/admin/users" });
  if (!body) return {};
  const list = h("div", { class: "adm-list" });
  const listMessage = messageLine();
  const name = h("input", { type: "text", name: "name", class: "adm-user-name", required: true, autocomplete: "off", "aria-label": "User name" });
  const password = h("input", { type: "password", name: "password", class: "adm-user-password", required: true, minlength: 8, autocomplete: "new-password", "aria-label": "Password" });
  const role = roleSelect(USER_ROLES, "viewer", { class: "adm-user-role", "aria-label": "Role" });
  const addMessage = messageLine();
  const form = h(
    "form",
    { class: "adm-form adm-user-form", onsubmit: (e) => (e.preventDefault(), add()) },
    h("h2", {}, "Add a user"),
    h("label", {}, "Name", name),
    h("label", {}, "Password (8+ characters)", password),
    h("label", {}, "Role", role),
    h("button", { type: "submit", class: "primary adm-user-add" }, "Add user"),
    addMessage.el,
  );
  body.append(h("div", { class: "adm-columns" }, h("section", { class: "adm-main" }, listMessage.el, list), form));

  async function change(user, update, done) {
    try {
      await adminRequest("PUT", `/api/v1/users/${encodeURIComponent(user.name)}`, update);
      listMessage.say(done, "ok");
    } catch (err) {
      listMessage.say(err.message);
    }
    load();
  }

  function row(user) {
    const self = principal()?.kind === "user" && principal()?.name === user.name;
    const select = roleSelect(USER_ROLES, user.role, { class: "adm-role-select", "aria-label": `Role of ${user.name}`, disabled: self });
    select.addEventListener("change", () => change(user, { role: select.value }, `${user.name} is now ${select.value}.`));
    const toggle = self
      ? h("span", { class: "muted" }, "(you)")
      : h(
          "button",
          { type: "button", class: user.disabled ? "adm-enable" : "adm-disable danger", onclick: () => change(user, { disabled: !user.disabled }, `${user.name} ${user.disabled ? "enabled" : "disabled: its sessions ended"}.`) },
          user.disabled ? "Enable" : "Disable",
        );
    return h(
      "tr",
      { dataset: { user: user.name }, class: user.disabled ? "adm-off" : null },
      h("td", {}, user.name),
      h("td", {}, select),
      h("td", {}, user.tenant),
      h("td", {}, user.disabled ? "disabled" : "active"),
      h("td", {}, shortTime(user.created)),
      h("td", {}, toggle),
    );
  }

  async function load() {
    try {
      const { users } = await adminRequest("GET", "/api/v1/users");
      list.replaceChildren(
        users.length
          ? h(
              "table",
              { class: "stats-table adm-table adm-users" },
              h("thead", {}, h("tr", {}, ["Name", "Role", "Tenant", "State", "Created", ""].map((t) => h("th", {}, t)))),
              h("tbody", {}, users.map(row)),
            )
          : h("p", { class: "muted empty" }, "No users in this tenant yet."),
      );
      list.dataset.loaded = "1";
    } catch (err) {
      listMessage.say(`Loading users failed: ${err.message}`);
    }
  }

  async function add() {
    try {
      const made = await adminRequest("POST", "/api/v1/users", { name: name.value.trim(), password: password.value, role: role.value });
      addMessage.say(`Added ${made.name} (${made.role}).`, "ok");
      name.value = "";
      password.value = "";
      load();
    } catch (err) {
      addMessage.say(err.message);
    }
  }

  load();
  return {};
}
