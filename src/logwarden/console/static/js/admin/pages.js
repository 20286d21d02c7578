// The admin pages (users, API keys, audit log), registered in ../pages.js and console/routes.py PAGES.

export { mountAdminAudit } from "./audit.js";
export { mountAdminKeys } from "./keys.js";
export { mountAdminUsers } from "./users.js";
