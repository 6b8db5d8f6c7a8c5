// The self-protection form: fingerprints made on this device by hashing.js, sent as JSON.
// No file ever leaves the device: the file input has no name, so the form never sends it.
import { hashFile } from "./hashing.js";

const form = document.getElementById("protect-form");
if (form) {
  const input = document.getElementById("files");
  const list = document.getElementById("hashed");
  const field = document.getElementById("items");
  const send = document.getElementById("send");
  const floor = Number(form.dataset.qualityFloor || 50);
  const most = Number(form.dataset.maxItems || 50);
  let items = [];

  const row = (name, text, state) => {
    const li = document.createElement("li");
    li.className = state;
    const strong = document.createElement("strong");
    strong.textContent = name;
    li.append(strong, " — ", text);
    list.append(li);
    return li;
  };

  input.addEventListener("change", async () => {
    list.replaceChildren();
    items = [];
    send.disabled = true;
    const files = Array.from(input.files || []);
    if (files.length > most) {
      row("", form.dataset.msgTooMany, "hashed-refused");
      return;
    }
    for (const file of files) {
      const li = row(file.name, form.dataset.msgWorking, "hashed-working");
      try {
        const hashed = await hashFile(file);
        if (hashed.kind === "video") {
          // Frames too plain to match are left out, as vPDQ leaves them out when matching.
          hashed.vpdq = (hashed.vpdq || []).filter((f) => f.quality >= floor);
        }
        const plain =
          hashed.kind === "image" ? hashed.quality < floor : hashed.vpdq.length === 0;
        li.lastChild.textContent = plain ? form.dataset.msgPlain : form.dataset.msgDone;
        li.className = plain ? "hashed-refused" : "hashed-ok";
        if (!plain) items.push(hashed);
      } catch (error) {
        li.lastChild.textContent = form.dataset.msgFailed;
        li.className = "hashed-refused";
      }
    }
    field.value = JSON.stringify(items);
    send.disabled = items.length === 0;
  });
}
