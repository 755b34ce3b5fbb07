"use strict";
// The slot page's Test run panel. The photo goes to the staff test-run endpoint together with
// the provider, operation and settings as they are in the form right now, so staff can try a
// change before saving it. The answer is shown in place: leaving the page would lose the edits.
// Below it, the print preview: the server lays the last test run's answer out by the output
// block and QR code in the form, again whenever they change, without another provider call.
(function () {
  // Words in the staff member's language, written into the page by the server (slots.admin).
  let labels = {};

  // A translated text with "%(name)s" placeholders, filled from values.
  function format(text, values) {
    return text.replace(/%\((\w+)\)s/g, (whole, name) => String(values[name]));
  }

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) {
      return decodeURIComponent(match[1]);
    }
    // With CSRF_COOKIE_HTTPONLY the cookie is hidden from scripts; the form still has it.
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function formValue(id) {
    const field = document.getElementById(id);
    return field ? field.value : null;
  }

  // The survey answers typed as "style=comic, name=Anna", as a booth would send them; the
  // test run's own fields are not theirs to set.
  function surveyAnswers() {
    const reserved = new Set(["fileToUpload", "file", "overrides", "password", "hash"]);
    const typed = formValue("test-run-answers") || "";
    return typed
      .split(",")
      .map((pair) => pair.split("="))
      .filter((parts) => parts.length >= 2 && parts[0].trim() && !reserved.has(parts[0].trim()))
      .map((parts) => [parts[0].trim(), parts.slice(1).join("=").trim()]);
  }

  // The unsaved values; throws an Error whose message a person can act on.
  function overrides() {
    const raw = (formValue("id_settings") || "").trim();
    let settings = {};
    if (raw) {
      try {
        settings = JSON.parse(raw);
      } catch (error) {
        throw new Error(format(labels.invalid_json, { error: error.message }));
      }
    }
    return {
      provider: formValue("id_provider"),
      operation: formValue("id_operation"),
      settings: settings,
    };
  }

  // The JSON error body as lines: "reason: details" then one line per field in "errors".
  async function errorText(response) {
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      return "HTTP " + response.status + " " + response.statusText;
    }
    const lines = [(body.failure_reason || "error") + (body.details ? ": " + body.details : "")];
    if (body.errors && typeof body.errors === "object") {
      for (const [field, message] of Object.entries(body.errors)) {
        lines.push(field + ": " + (typeof message === "string" ? message : JSON.stringify(message)));
      }
    }
    return "HTTP " + response.status + " · " + lines.join("\n");
  }

  function seconds(milliseconds) {
    return (milliseconds / 1000).toFixed(2) + " " + labels.seconds;
  }

  function setup(panel) {
    const photo = panel.querySelector("#test-run-photo");
    const button = panel.querySelector("#test-run-button");
    const answer = panel.querySelector("#test-run-answer");
    const status = panel.querySelector("#test-run-status");
    const image = panel.querySelector("#test-run-result");
    let shownUrl = null;

    function show(parts, isError) {
      answer.hidden = false;
      status.replaceChildren(...parts);
      status.classList.toggle("test-run-error", Boolean(isError));
    }

    function jobLink(jobId) {
      const link = document.createElement("a");
      link.href = panel.dataset.jobUrl.replace("JOB_ID", encodeURIComponent(jobId));
      link.textContent = jobId;
      link.className = "test-run-job";
      return link;
    }

    async function run() {
      if (!photo.files.length) {
        show([labels.choose_photo], true);
        return;
      }
      let values;
      try {
        values = overrides();
      } catch (error) {
        show([error.message], true);
        return;
      }
      const form = new FormData();
      form.append("fileToUpload", photo.files[0]);
      form.append("overrides", JSON.stringify(values));
      for (const [name, value] of surveyAnswers()) {
        form.append(name, value);
      }
      button.disabled = true;
      show([labels.running], false);
      image.hidden = true;
      const started = performance.now();
      try {
        const response = await fetch(panel.dataset.endpoint, {
          method: "POST",
          body: form,
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken() },
        });
        const jobId = response.headers.get("X-Job-Id");
        if (!response.ok) {
          const text = await errorText(response);
          const took = seconds(performance.now() - started);
          const parts = [text + "\n" + format(labels.after, { time: took })];
          if (jobId) {
            parts.push(" · " + labels.job + " ", jobLink(jobId));
          }
          show(parts, true);
          return;
        }
        const blob = await response.blob();
        const took = seconds(performance.now() - started);
        if (shownUrl) {
          URL.revokeObjectURL(shownUrl);
        }
        shownUrl = URL.createObjectURL(blob);
        image.src = shownUrl;
        image.hidden = false;
        const parts = [format(labels.done_in, { time: took })];
        if (jobId) {
          parts.push(" · " + labels.job + " ", jobLink(jobId));
        }
        const resultUrl = response.headers.get("X-Result-Url");
        if (resultUrl) {
          const link = document.createElement("a");
          link.href = resultUrl;
          link.target = "_blank";
          link.textContent = labels.result_url;
          parts.push(" · ", link);
        }
        show(parts, false);
        document.dispatchEvent(new CustomEvent("photochanger:test-run-done"));
      } catch (error) {
        show([format(labels.unreachable, { error: error.message })], true);
      } finally {
        button.disabled = false;
      }
    }

    button.addEventListener("click", run);
  }

  function setupPreview(section) {
    const status = section.querySelector("#print-preview-status");
    const image = section.querySelector("#print-preview-image");
    let shownUrl = null;
    let asked = 0; // answers to older requests are dropped: the latest typing wins
    let timer = null;

    function say(text, isError) {
      status.textContent = text;
      status.classList.toggle("test-run-error", Boolean(isError));
    }

    async function refresh() {
      let values;
      try {
        values = overrides();
      } catch (error) {
        say(error.message, true);
        return;
      }
      const request = ++asked;
      try {
        const response = await fetch(section.dataset.endpoint, {
          method: "POST",
          body: JSON.stringify({
            settings: values.settings,
            guest_qr_corner: formValue("id_guest_qr_corner") || "",
            guest_qr_caption: formValue("id_guest_qr_caption") || "",
          }),
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        });
        if (request !== asked) {
          return;
        }
        if (response.status === 404) {
          image.hidden = true;
          say(labels.preview_needs_run, false);
          return;
        }
        if (!response.ok) {
          say(await errorText(response), true);
          return;
        }
        const blob = await response.blob();
        if (request !== asked) {
          return;
        }
        if (shownUrl) {
          URL.revokeObjectURL(shownUrl);
        }
        shownUrl = URL.createObjectURL(blob);
        image.src = shownUrl;
        image.hidden = false;
        say("", false);
      } catch (error) {
        say(format(labels.unreachable, { error: error.message }), true);
      }
    }

    function soon() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 400);
    }

    for (const id of ["id_settings", "id_guest_qr_corner", "id_guest_qr_caption"]) {
      const field = document.getElementById(id);
      if (field) {
        field.addEventListener("input", soon);
        field.addEventListener("change", soon);
      }
    }
    document.addEventListener("photochanger:test-run-done", refresh);
    refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    const panel = document.getElementById("test-run");
    if (panel) {
      labels = JSON.parse(document.getElementById("test-run-labels").textContent);
      setup(panel);
    }
    const preview = document.getElementById("print-preview");
    if (preview) {
      setupPreview(preview);
    }
  });
})();
