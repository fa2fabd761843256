// facecluster review: sends each correction as JSON with the page's token, then shows the new state.
// Text from the run (names) is only ever set with textContent, never parsed as HTML.
"use strict";

const TOKEN = document.querySelector('meta[name="facecluster-token"]').content;

function status(text, isError) {
  const box = document.getElementById("status");
  box.textContent = text;
  box.className = isError ? "error" : "ok";
}

async function post(url, data) {
  document.body.classList.add("busy");
  try {
    const res = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-Facecluster-Token": TOKEN},
      body: JSON.stringify(data),
    });
    const out = await res.json().catch(() => ({error: res.statusText}));
    if (!res.ok) throw new Error(out.error || res.statusText);
    return out;
  } finally {
    document.body.classList.remove("busy");
  }
}

function go(url) {
  window.location.assign(url);
}

function personId() {
  const el = document.getElementById("person");
  return el ? Number(el.dataset.person) : null;
}

function checked(selector) {
  return Array.from(document.querySelectorAll(selector + ":checked")).map((c) => Number(c.value));
}

const actions = {
  async undo(btn) {
    const data = btn.dataset.edit ? {edit: Number(btn.dataset.edit)} : {};
    await post("/api/undo", data);
    go(window.location.pathname.startsWith("/person/") ? "/" : window.location.href);
  },
  async "merge-selected"() {
    const out = await post("/api/merge", {people: checked(".pick")});
    go("/person/" + out.person.id);
  },
  async "accept-suggestion"(btn) {
    await post("/api/label", {person: personId(), name: btn.dataset.name});
    go(window.location.href);
  },
  async "merge-into"() {
    const target = Number(document.getElementById("merge-target").value);
    const out = await post("/api/merge", {people: [target, personId()]});
    go("/person/" + out.person.id);
  },
  async split(btn) {
    const out = await post("/api/split", {person: personId(), by: btn.dataset.by});
    go(out.people.length ? "/person/" + out.people[0].id : "/");
  },
  async "split-picked"() {
    await post("/api/split", {person: personId(), by: "units", units: checked(".unit-pick")});
    go(window.location.href);
  },
  async "not-person"(btn) {
    await post("/api/not-person", {detection: Number(btn.dataset.detection)});
    go(window.location.href);
  },
  async assign(btn) {
    const unit = btn.closest(".unit");
    const target = Number(unit.querySelector(".give-target").value);
    const detections = unit.dataset.detections.split(",").map(Number);
    await post("/api/assign", {person: target, detections: detections});
    go(window.location.href);
  },
  async answer(btn) {
    const pair = btn.closest(".pair");
    await post("/api/answer", {a: Number(pair.dataset.a), b: Number(pair.dataset.b), same: btn.dataset.same === "true"});
    go(window.location.href);
  },
  seek(btn) {
    const player = document.getElementById("player");
    const start = Number(btn.dataset.start);
    document.querySelectorAll(".seek.current").forEach((b) => b.classList.remove("current"));
    btn.classList.add("current");
    if (player && !player.dataset.failed) {
      player.dataset.end = btn.dataset.end;
      player.currentTime = start;
      player.play().catch(() => {});
    } else {
      showFrames(btn.dataset.frames);
    }
  },
};

document.addEventListener("click", async (event) => {
  const btn = event.target.closest("[data-action]");
  if (btn && !btn.disabled && actions[btn.dataset.action]) {
    event.preventDefault();
    try {
      await actions[btn.dataset.action](btn);
    } catch (err) {
      status(err.message, true);
    }
    return;
  }
  // clicking a face picks its track for "move picked tracks"
  const face = event.target.closest(".unit figure img");
  const box = face && face.closest(".unit").querySelector(".unit-pick");
  if (box && !box.disabled) {
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", {bubbles: true}));
  }
});

document.addEventListener("change", () => {
  const merge = document.querySelector('[data-action="merge-selected"]');
  if (merge) merge.disabled = checked(".pick").length < 2;
  const split = document.querySelector('[data-action="split-picked"]');
  if (split) split.disabled = checked(".unit-pick").length < 1;
  document.querySelectorAll(".unit").forEach((u) => {
    const box = u.querySelector(".unit-pick");
    u.classList.toggle("picked", Boolean(box && box.checked));
  });
});

const rename = document.querySelector('[data-form="rename"]');
if (rename) {
  rename.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await post("/api/label", {person: personId(), name: document.getElementById("name").value});
      go(window.location.href);
    } catch (err) {
      status(err.message, true);
    }
  });
}

// drag a person card onto another: merge them (the card dropped on keeps its name)
document.querySelectorAll(".card.person").forEach((card) => {
  card.addEventListener("dragstart", (e) => {
    e.dataTransfer.setData("text/plain", card.dataset.person);
    e.dataTransfer.effectAllowed = "move";
  });
  card.addEventListener("dragover", (e) => {
    e.preventDefault();
    card.classList.add("drop");
  });
  card.addEventListener("dragleave", () => card.classList.remove("drop"));
  card.addEventListener("drop", async (e) => {
    e.preventDefault();
    card.classList.remove("drop");
    const dragged = Number(e.dataTransfer.getData("text/plain"));
    const target = Number(card.dataset.person);
    if (Number.isNaN(dragged) || dragged === target) return;
    try {
      const out = await post("/api/merge", {people: [target, dragged]});
      go("/person/" + out.person.id);
    } catch (err) {
      status(err.message, true);
    }
  });
});

// the video, or frames around each moment when the browser cannot play the file
function showFrames(list) {
  const strip = document.getElementById("strip");
  strip.hidden = false;
  document.getElementById("strip-note").hidden = false;
  strip.replaceChildren();
  (list || "").split(",").filter(Boolean).forEach((ms) => {
    const img = document.createElement("img");
    img.src = "/frame/" + Number(ms) + ".jpg";
    img.alt = "frame at " + (Number(ms) / 1000).toFixed(1) + " s";
    img.title = img.alt;
    strip.appendChild(img);
  });
}

function useFrames() {
  const player = document.getElementById("player");
  if (!player || player.dataset.failed) return;
  player.dataset.failed = "1";
  player.hidden = true;
  const current = document.querySelector(".seek.current") || document.querySelector(".seek");
  if (current) showFrames(current.dataset.frames);
}

const player = document.getElementById("player");
if (player) {
  if (!player.canPlayType(player.dataset.type)) {
    useFrames();
  } else {
    player.addEventListener("error", useFrames);
    player.addEventListener("timeupdate", () => {
      if (player.dataset.end && player.currentTime >= Number(player.dataset.end)) {
        player.pause();
        delete player.dataset.end;
      }
    });
    if (player.error) useFrames();
  }
}
