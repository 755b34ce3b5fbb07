/* The public gallery refreshes itself: it polls /gallery/data and redraws what changed. */
(function () {
  "use strict";

  const main = document.getElementById("gallery");
  if (!main) return;
  const status = document.getElementById("gallery-status");
  // Words in the guest's language, written into the page by the server.
  const labels = JSON.parse(document.getElementById("gallery-labels").textContent);
  let data = JSON.parse(document.getElementById("gallery-data").textContent);
  let shown = signature(data);

  function signature(gallery) {
    return gallery.slots
      .map((slot) => `${slot.slot_id}:${slot.results.map((result) => result.job_id).join(",")}`)
      .join("|");
  }

  function render(gallery) {
    const sections = gallery.slots.map((slot) => {
      const section = document.createElement("section");
      section.className = "gallery-slot";
      section.dataset.slot = slot.slot_id;
      const title = document.createElement("h2");
      title.textContent = slot.display_name;
      const grid = document.createElement("div");
      grid.className = "gallery-grid";
      for (const result of slot.results) {
        const link = document.createElement("a");
        link.href = result.result_url;
        link.dataset.jobId = result.job_id;
        const image = document.createElement("img");
        image.addEventListener("error", () => link.remove());
        image.src = result.thumbnail_url;
        image.alt = "";
        image.loading = "lazy";
        link.appendChild(image);
        grid.appendChild(link);
      }
      section.append(title, grid);
      return section;
    });
    if (!sections.length) {
      const empty = document.createElement("p");
      empty.className = "gallery-empty";
      empty.textContent = labels.empty;
      sections.push(empty);
    }
    main.replaceChildren(...sections);
  }

  function close() {
    const closed = document.createElement("p");
    closed.className = "gallery-empty";
    closed.textContent = labels.closed;
    main.replaceChildren(closed);
    status.textContent = "";
    document.body.dataset.state = "closed";
  }

  async function poll() {
    let delay = (data.refresh_seconds || 10) * 1000;
    try {
      const response = await fetch(main.dataset.url, { headers: { Accept: "application/json" } });
      if (response.status === 403) {
        close();
        delay = 30000; // a screen left open picks the gallery up again when it is re-shared
      } else if (response.status === 429) {
        delay = Math.max(delay, (Number(response.headers.get("Retry-After")) || 30) * 1000);
      } else if (response.ok) {
        data = await response.json();
        document.body.dataset.state = "open";
        const next = signature(data);
        if (next !== shown || main.querySelector(".gallery-empty")) {
          render(data);
          shown = next;
        }
      }
    } catch (error) {
      // The network dropped (a phone changing Wi-Fi): try again at the next tick.
    }
    setTimeout(poll, delay);
  }

  // A photo removed meanwhile (its time was up) leaves no broken image behind.
  for (const image of main.querySelectorAll("img")) {
    const drop = () => image.parentElement.remove();
    if (image.complete && image.naturalWidth === 0) drop();
    else image.addEventListener("error", drop);
  }
  document.body.dataset.state = "open";
  setTimeout(poll, (data.refresh_seconds || 10) * 1000);
})();
