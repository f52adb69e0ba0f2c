// The drawing canvas's own toolbar (undo, redo, edit, clear) shows only while the pointer is
// over the canvas. Keep it visible, and let Ctrl+Z / Ctrl+Shift+Z (Cmd on a Mac) press its
// Undo / Redo buttons, as in any drawing program. The canvas lives in an open shadow root.
(() => {
  if (window.digitlabCanvasTools) return;
  window.digitlabCanvasTools = true;
  const PINNED = ".dc-toolbar{opacity:1 !important;top:-2.65rem !important}";

  const HOSTS = '.stBidiComponentIsolated, [data-testid="stBidiComponentIsolated"]';
  const canvasRoots = () =>
    Array.from(document.querySelectorAll(HOSTS))
      .map((host) => host.shadowRoot)
      .filter((root) => root && root.querySelector(".dc-toolbar"));

  const pinToolbars = () => {
    for (const root of canvasRoots()) {
      if (!root.querySelector("style[data-digitlab]")) {
        const style = document.createElement("style");
        style.dataset.digitlab = "pinned-toolbar";
        style.textContent = PINNED;
        root.appendChild(style);
      }
    }
  };

  // Text fields keep their own Ctrl+Z; a radio or a checkbox (the mode switch just clicked) does not.
  const TEXT_TYPES = ["text", "search", "number", "email", "password", "tel", "url"];
  const typing = (target) =>
    target &&
    (target.isContentEditable ||
      ["TEXTAREA", "SELECT"].includes(target.tagName) ||
      (target.tagName === "INPUT" && TEXT_TYPES.includes(target.type)));

  document.addEventListener(
    "keydown",
    (event) => {
      if (!(event.ctrlKey || event.metaKey) || typing(event.target)) return;
      const key = event.key.toLowerCase();
      const label = key === "y" || (key === "z" && event.shiftKey) ? "Redo" : key === "z" ? "Undo" : null;
      if (!label) return;
      for (const root of canvasRoots()) {
        const button = root.querySelector(`button[aria-label="${label}"]`);
        if (button && !button.disabled) {
          button.click();
          event.preventDefault();
        }
      }
    },
    true,
  );

  // The canvas draws its toolbar inside its shadow root, out of reach of a page observer.
  setInterval(pinToolbars, 250);
})();
