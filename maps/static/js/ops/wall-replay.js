/* GridTwin map wall: the replay bar. The last 24 hours of cell levels in 5-minute frames
   (GET /api/cells/history), drawn as a histogram of critical and warning cells under a
   slider; moving the slider (or playing) shows the cells as they were, LIVE comes back.

   replayBar(wall, view) builds the bar for the wall's state `wall` and returns
   {bar, badge, load, showFrame, goLive}; `view` redraws: {restyle(code), restyleAll(), legend()}.
   While replaying, wall.replay is the frame's index and wall.replayLevels its cell levels. */
import * as api from "../lib/api.js";
import { h } from "../lib/dom.js";
import * as i18n from "../lib/i18n.js";
import { t } from "../lib/i18n.js";
import { histogram } from "./charts.js";
import { COLORS } from "./wall-colors.js";
const STEP = "5m";
const PLAY_MS = 250; // per frame: 24 hours in about a minute

export function replayBar(wall, view) {
  const colors = COLORS;
  let playTimer = null;
  const ui = {
    slider: h("input", { type: "range", id: "w-slider", min: "0", max: "0", value: "0", step: "1",
                         "aria-label": t("wall.replay.slider"), oninput: onSlide }),
    histogram: h("div", { class: "w-histogram", id: "w-histogram" }),
    label: h("div", { class: "w-time-label", id: "w-time-label" }, t("wall.replay.hint")),
    play: h("button", { class: "w-btn", id: "w-play", type: "button", onclick: togglePlay,
                        title: t("wall.replay.play") }, "\u25b6"),
    live: h("button", { class: "w-btn w-btn-live active", id: "w-live", type: "button", onclick: goLive },
      t("wall.replay.live")),
    badge: h("div", { class: "w-replay-badge", id: "w-replay-badge", hidden: true }),
  };

  function load() {
    return api.get("/api/cells/history" + api.query({ step: STEP })).then(function (body) {
      wall.history = body;
      ui.slider.max = String(body.frames.length); // the last position is LIVE
      if (wall.replay === null) ui.slider.value = ui.slider.max;
      histogram(ui.histogram, body.frames.map(function (f) { return [f.critical, f.warning]; }),
        [colors.critical, colors.warning]);
    });
  }

  /* Frames carry only the changes: a frame's levels are the sum of those before it. */
  function levelsAt(index) {
    const levels = {};
    for (let i = 0; i <= index; i++) Object.assign(levels, wall.history.frames[i].changes);
    return levels;
  }

  function showFrame(index) {
    const frames = wall.history.frames;
    const entering = wall.replay === null;
    const before = wall.replayLevels || {};
    wall.replay = index;
    wall.replayLevels = levelsAt(index);
    if (entering) view.restyleAll();
    else {
      Object.keys(Object.assign({}, before, wall.replayLevels)).forEach(function (code) {
        if (before[code] !== wall.replayLevels[code]) view.restyle(code);
      });
    }
    const start = new Date(frames[index].t), end = new Date(start.getTime() + wall.history.step * 1000);
    ui.label.textContent = i18n.clock(start) + "\u2013" + i18n.clock(end);
    ui.badge.hidden = false;
    ui.badge.textContent = t("wall.replay.badge", { day: i18n.day(start), from: i18n.clock(start), to: i18n.clock(end),
      critical: frames[index].critical, warning: frames[index].warning });
    ui.live.classList.remove("active");
    document.body.classList.add("replaying");
    if (String(ui.slider.value) !== String(index)) ui.slider.value = String(index);
    if (entering) view.legend();
  }

  function goLive() {
    stopPlay();
    if (wall.history) ui.slider.value = String(wall.history.frames.length);
    if (wall.replay === null) return;
    wall.replay = null;
    wall.replayLevels = null;
    view.restyleAll();
    view.legend();
    ui.label.textContent = t("wall.replay.hint");
    ui.badge.hidden = true;
    ui.live.classList.add("active");
    document.body.classList.remove("replaying");
  }

  function onSlide() {
    if (!wall.history) return;
    const index = Number(ui.slider.value);
    if (index >= wall.history.frames.length) goLive();
    else showFrame(index);
  }

  function stopPlay() {
    clearInterval(playTimer);
    playTimer = null;
    ui.play.textContent = "\u25b6";
    ui.play.classList.remove("active");
  }

  function togglePlay() {
    if (!wall.history) return;
    if (playTimer) { stopPlay(); return; }
    let index = wall.replay === null ? 0 : wall.replay;
    showFrame(index);
    ui.play.textContent = "\u275a\u275a";
    ui.play.classList.add("active");
    playTimer = setInterval(function () {
      index += 1;
      if (index >= wall.history.frames.length) goLive();
      else showFrame(index);
    }, PLAY_MS);
  }

  return {
    bar: [ui.play, h("div", { class: "w-slider-box" }, ui.histogram, ui.slider), ui.label, ui.live],
    badge: ui.badge,
    load: load,
    showFrame: showFrame,
    goLive: goLive,
  };
}
