// The VM console page: noVNC connected to the management server's WebSocket proxy with
// the one-time token this page was opened with (`?token=…[&extra=…]`). A token works for
// one connection, so a dropped console is reopened from the instance's page.
import RFB from "/console/static/novnc.js";

const root = document.getElementById("vnc");
const status = document.getElementById("vnc-status");
const cad = document.getElementById("vnc-cad");

function show(text, kind) {
  status.textContent = text;
  status.className = "badge " + kind;
  root.dataset.state = kind === "ok" ? "connected" : kind === "bad" ? "disconnected" : "connecting";
}

const query = new URLSearchParams(window.location.search);
const token = query.get("token");
if (!token) {
  show("No console token: open the console from the instance's page", "bad");
} else {
  const ws = new URL(root.dataset.websocket, window.location.href);
  ws.protocol = window.location.protocol === "https:" ? "wss:" : "ws:";
  ws.search = "";
  ws.searchParams.set("token", token);
  if (query.get("extra")) ws.searchParams.set("extra", query.get("extra"));
  // The token is spent by this connection: keep it out of the address bar and history.
  window.history.replaceState(null, "", window.location.pathname);

  const rfb = new RFB(document.getElementById("vnc-screen"), ws.href, { wsProtocols: ["binary"] });
  rfb.scaleViewport = true;
  rfb.background = "#111";
  rfb.addEventListener("connect", () => {
    show("Connected", "ok");
    cad.disabled = false;
    rfb.focus();
  });
  rfb.addEventListener("disconnect", (e) => {
    cad.disabled = true;
    show(e.detail.clean ? "Disconnected" : "Connection lost: reopen the console from the instance's page", "bad");
  });
  rfb.addEventListener("securityfailure", (e) => show("Refused: " + (e.detail.reason || "security failure"), "bad"));
  rfb.addEventListener("credentialsrequired", () => show("The VM's console asks for a password, which this console does not hold", "bad"));
  rfb.addEventListener("desktopname", (e) => { document.title = e.detail.name + " · Console · Stratus"; });
  cad.addEventListener("click", () => rfb.sendCtrlAltDel());
}
