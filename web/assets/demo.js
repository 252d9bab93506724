"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const status = (text) => { $("status").textContent = text; };
  let tokens = null;
  // cancel, while a login waits, stops it: no more polls, popup closed.
  let cancel = null;

  // show(null) clears: a login that did not end with tokens leaves none
  // from an earlier one on screen, so the page shows the last result.
  const show = (t) => {
    tokens = t;
    $("tokens").textContent = t ? JSON.stringify(t, null, 2) : "";
    $("tokens").hidden = !t;
    $("refresh").disabled = !(t && t.refresh_token);
    $("logout").disabled = !t;
  };
  const failure = async (res) => {
    const body = await res.json().catch(() => ({}));
    return body.error_description || body.error || String(res.status);
  };
  const buttons = ["login", "more"];

  // A login, with the choices of docs/protocol.md#authorize as a form body
  // (still a CORS simple request).
  const login = async (choices) => {
    buttons.forEach((b) => { $(b).disabled = true; });
    let cancelled = false, popup = null, wake = () => {};
    cancel = () => { cancelled = true; wake(); if (popup) popup.close(); };
    $("cancel").hidden = false;
    const sleep = (ms) => new Promise((r) => { wake = r; setTimeout(r, ms); });
    try {
      status("Asking handoff for a login URL…");
      const res = await fetch("authorize", { method: "POST", body: choices ? new URLSearchParams(choices) : undefined });
      if (!res.ok) throw new Error("authorize refused: " + await failure(res));
      const { url, readKey } = await res.json();
      if (!cancelled) {
        popup = window.open(url, "handoff-login", "width=520,height=680");
        status("Waiting for the login window: sign in there and click Allow (or Cancel here).");
      }
      for (;;) {
        if (cancelled) { show(null); status("Login cancelled: stopped waiting for it."); break; }
        await sleep(1000);
        if (cancelled) continue;
        const poll = await fetch("poll?readKey=" + encodeURIComponent(readKey), { method: "POST" });
        if (poll.status === 404) continue;
        if (poll.status === 200) { show(await poll.json()); status("Logged in: the tokens below came through handoff."); break; }
        if (poll.status === 429) { await sleep(1000 * (Number(poll.headers.get("Retry-After")) || 1)); continue; }
        const body = await poll.json().catch(() => ({}));
        show(null);
        status(body.error === "access_denied" ? "Login cancelled at the provider."
          : "Login failed: " + (body.error || poll.status) + (body.error_description ? " — " + body.error_description : ""));
        break;
      }
    } catch (e) {
      show(null);
      status("Error: " + e.message);
    } finally {
      cancel = null;
      $("cancel").hidden = true;
      buttons.forEach((b) => { $(b).disabled = false; });
    }
  };

  $("login").addEventListener("click", () => login(null));
  // Incremental consent: the same login, asking for one more scope.
  $("more").addEventListener("click", () => login({ scope: "profile email", prompt: "consent" }));
  $("cancel").addEventListener("click", () => { if (cancel) cancel(); });

  $("refresh").addEventListener("click", async () => {
    if (!tokens || !tokens.refresh_token) return;
    const before = tokens.access_token;
    const res = await fetch("refresh", { method: "POST", body: new URLSearchParams({ refresh_token: tokens.refresh_token }) });
    if (!res.ok) { status("Refresh failed: " + await failure(res)); return; }
    show(await res.json());
    status(tokens.access_token === before
      ? "Refreshed again within REFRESH_REPLAY_TTL: handoff gave the same answer without asking the provider."
      : "Refreshed: new access token below.");
  });

  // Log out: revoke the grant at the provider, then forget the tokens.
  $("logout").addEventListener("click", async () => {
    if (!tokens) return;
    const token = tokens.refresh_token || tokens.access_token;
    const hint = tokens.refresh_token ? "refresh_token" : "access_token";
    const res = await fetch("revoke", { method: "POST", body: new URLSearchParams({ token, token_type_hint: hint }) });
    if (res.ok) { show(null); status("Logged out: the provider revoked the grant."); return; }
    if (res.status === 501) { show(null); status("Logged out here: this app has no revocation endpoint."); return; }
    status("Log out failed: " + await failure(res));
  });
})();
