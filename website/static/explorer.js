// Kernel-free explorers (website/explorer_html.py): every view was rendered when the site was built;
// moving a control shows the stored view for the controls' values. No request leaves the page.
"use strict";
(function () {
  async function unpack(script) {
    const bytes = Uint8Array.from(atob(script.textContent.trim()), (c) => c.charCodeAt(0));
    const text = await new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
    return JSON.parse(text);
  }

  async function start(root) {
    const views = await unpack(root.querySelector("script.explorer-frames"));
    const controls = Array.from(root.querySelectorAll("[data-control]"));
    const view = root.querySelector(".explorer-view");
    const show = () => {
      let index = 0;
      for (const control of controls) {
        index = index * Number(control.dataset.size) + Number(control.value);
        const readout = control.parentElement.querySelector("output");
        if (readout) readout.textContent = JSON.parse(control.dataset.labels)[Number(control.value)];
      }
      view.innerHTML = views[index];
      root.dataset.view = String(index);
    };
    for (const control of controls) control.addEventListener("input", show);
    root.dataset.ready = "true";
  }

  for (const root of document.querySelectorAll(".static-explorer")) {
    start(root).catch((error) => console.error("explorer could not start:", error));
  }
})();
