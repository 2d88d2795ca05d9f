// livevault web pages: confirmations, copy-link, live updates without reloading, and the live player.
"use strict";

(function () {
  // The live player's hls.js instance, if one runs: it stops loading when the page leaves or capture ends.
  var liveHls = null;
  function stopLivePlayer() {
    if (liveHls) { liveHls.stopLoad(); }
  }

  // Forms that need a confirmation (delete): one delegated listener survives live updates. A form that is sent
  // (Stop, Delete…) ends the live player's loading first: what the action removes is not asked for again.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    stopLivePlayer();
  });

  // "Copy link": ask the server for a download link that works without signing in, then copy it.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) return;
    var label = button.textContent;
    var done = function (text) { button.textContent = text; setTimeout(function () { button.textContent = label; }, 2000); };
    fetch(button.getAttribute("data-copy"), { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (!body.url) { done("No link"); return; }
        var url = new URL(body.url, window.location.href).href;
        button.setAttribute("data-link", url);
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(url).then(function () { done("Copied"); },
                                                  function () { window.prompt("Copy this link", url); });
        } else {
          window.prompt("Copy this link", url);
        }
      })
      .catch(function () { done("No link"); });
  });

  // Live updates: every 2 s fetch this page again and swap each [data-live] region whose server HTML changed
  // (not while the keyboard focus is inside it, so nobody loses their place).
  var lastHtml = {};
  document.querySelectorAll("[data-live]").forEach(function (el) { lastHtml[el.id] = null; });
  function poll() {
    if (document.hidden || !Object.keys(lastHtml).length) return;
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Livevault-Poll": "1" } })
      .then(function (response) {
        if (response.redirected && response.url.indexOf("/ui/signin") !== -1) { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      })
      .then(function (text) {
        if (!text) return;
        var fresh = new DOMParser().parseFromString(text, "text/html");
        fresh.querySelectorAll("[data-live]").forEach(function (next) {
          var current = document.getElementById(next.id);
          if (!current) return;
          var html = next.outerHTML;
          if (lastHtml[next.id] === null) { lastHtml[next.id] = current.outerHTML; }
          if (html === lastHtml[next.id] || current.contains(document.activeElement)) return;
          lastHtml[next.id] = html;
          if (liveHls && liveHls.media && current.contains(liveHls.media)) { liveHls.destroy(); liveHls = null; }
          current.replaceWith(document.importNode(next, true));
        });
        // Capture has ended: the playlist will not grow and its parts go once the file is finalized.
        var state = document.querySelector("[data-capturing]");
        if (state && state.getAttribute("data-capturing") === "no") { stopLivePlayer(); }
        if (window.livevaultInitPlayer) window.livevaultInitPlayer();
      })
      .catch(function () { /* offline for a moment: try again on the next tick */ });
  }
  setInterval(poll, 2000);

  // The live player: hls.js where the browser has Media Source Extensions, else native HLS (Safari, iOS).
  function initPlayer() {
  var video = document.getElementById("video");
  if (!video || !video.getAttribute("data-hls") || video.getAttribute("data-started")) return;
  video.setAttribute("data-started", "1");
  var state = document.getElementById("player-state");
  var source = video.getAttribute("data-hls");
  function say(text) { if (state) state.textContent = text; }
  // Capture has already ended (the page was opened or reloaded after a stop): its parts are about to go into
  // the file, so nothing is loaded; the live update offers the file once it is ready.
  var capturing = document.querySelector("[data-capturing]");
  if (capturing && capturing.getAttribute("data-capturing") === "no") {
    say("Capture has ended; the file is being finished. This page offers it when it is ready.");
    return;
  }

  function startHlsJs() {
    var hls = new window.Hls({ liveSyncDurationCount: 3, manifestLoadingMaxRetry: 60, manifestLoadingRetryDelay: 2000,
                               levelLoadingMaxRetry: 60, levelLoadingRetryDelay: 2000 });
    hls.on(window.Hls.Events.MANIFEST_PARSED, function () {
      say("Playing live. Seek back to watch from the start.");
      video.play().catch(function () { say("Press play to start."); });
    });
    // The playlist has ended (capture stopped): keep what is loaded and ask for nothing more, since the
    // finalize removes the parts it points into.
    hls.on(window.Hls.Events.LEVEL_LOADED, function (_event, data) {
      if (data.details && !data.details.live) {
        say("The recording has ended.");
        hls.stopLoad();
      }
    });
    hls.on(window.Hls.Events.ERROR, function (_event, data) {
      if (!data.fatal) return;
      var capture = document.querySelector("[data-capturing]");
      if (capture && capture.getAttribute("data-capturing") === "no") {
        say("The recording has ended.");
        hls.stopLoad();
      } else if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) {
        say("Waiting for the first segments…");
        setTimeout(function () { hls.loadSource(source); }, 2000);
      } else if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
      } else {
        say("The live stream cannot be played here (" + data.details + ").");
        video.setAttribute("data-player-error", data.details);
      }
    });
    hls.loadSource(source);
    hls.attachMedia(video);
    liveHls = hls;
  }

  var hasMse = !!(window.MediaSource || window.ManagedMediaSource);
  if (hasMse) {
    var script = document.createElement("script");
    script.src = video.getAttribute("data-hlsjs");
    script.onload = function () {
      if (window.Hls && window.Hls.isSupported()) { startHlsJs(); } else { say("This browser cannot play HLS."); }
    };
    document.head.appendChild(script);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = source;
    video.addEventListener("loadedmetadata", function () { video.play().catch(function () { say("Press play to start."); }); });
  } else {
    say("This browser cannot play HLS.");
  }
  }
  window.livevaultInitPlayer = initPlayer;
  initPlayer();
})();
