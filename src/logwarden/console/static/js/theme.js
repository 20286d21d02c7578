// Light and dark themes from CSS variables: the system's choice unless the user picked one (kept locally).

const KEY = "logwarden.theme";

function systemDark() {
  return window.matchMedia("(prefers-color-scheme: dark)").matches;
}

export function currentTheme() {
  return document.documentElement.dataset.theme || (systemDark() ? "dark" : "light");
}

export function applyStoredTheme() {
  const stored = localStorage.getItem(KEY);
  if (stored === "dark" || stored === "light") document.documentElement.dataset.theme = stored;
}

export function toggleTheme() {
  const next = currentTheme() === "dark" ? "light" : "dark";
  document.documentElement.dataset.theme = next;
  localStorage.setItem(KEY, next);
  window.dispatchEvent(new CustomEvent("lw:theme", { detail: next }));
}
