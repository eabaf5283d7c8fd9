// Shows the reporter, per chosen file and before anything is sealed, what hidden details
// stripping found and removed, warns by name of each file that cannot be cleaned, and lets
// the reporter keep a file unchanged (for evidence) only by ticking that file's own box.
// The strings come from templates/reporter/_scrub.html, in the page's language.
import { scrubFile, CLEANED, UNSUPPORTED } from "/static/js/scrub.js";

const strings = () => document.getElementById("scrub-strings").dataset;

function camel(prefix, key) {
  return prefix + key.split("_").map((part) => part[0].toUpperCase() + part.slice(1)).join("");
}

function say(template, values) {
  return template.replace(/%\((\w+)\)s/g, (m, name) => (name in values ? values[name] : m));
}

function line(parent, text, className) {
  const p = document.createElement("p");
  p.textContent = text; // text only: file names and metadata are never parsed as HTML
  if (className) p.className = className;
  parent.appendChild(p);
  return p;
}

function describe(item, result, index) {
  const s = strings();
  item.replaceChildren();
  if (result.status !== CLEANED) {
    line(item, say(result.status === UNSUPPORTED ? s.unsupported : s.unreadable, { name: result.name }), "error");
    return null;
  }
  line(item, say(result.removed.length ? s.cleaned : s.nothing, { name: result.name }));
  if (result.found.length) {
    const items = result.found.map(([kind, value]) => `${s[camel("found", kind)] || kind} ${value}`);
    line(item, say(s.found, { items: items.join(s.separator) }), "hint");
  }
  if (!result.removed.length) return null;
  line(item, say(s.removed, { items: result.removed.map((k) => s[camel("removed", k)] || k).join(s.separator) }), "hint");
  const label = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.id = `keep-original-${index}`;
  box.setAttribute("aria-describedby", `keep-risk-${index}`);
  label.append(box, ` ${s.keep}`);
  item.appendChild(label);
  line(item, s.keepRisk, "hint").id = `keep-risk-${index}`;
  return box;
}

/**
 * Strip every file chosen in ``input`` as soon as it is chosen and show the outcome in a list
 * after the input. Returns { prepared }: prepared() resolves to the files to seal, as
 * [{ name, type, blob }], the cleaned copy unless the reporter ticked to keep the original.
 */
export function watchFiles(input) {
  const list = document.createElement("ul");
  list.className = "scrub-list";
  list.setAttribute("aria-live", "polite");
  input.after(list);
  let pending = Promise.resolve([]);
  const refresh = () => {
    const files = Array.from(input.files || []);
    list.replaceChildren();
    pending = Promise.all(files.map(async (file, index) => {
      const item = document.createElement("li");
      line(item, say(strings().working, { name: file.name }));
      list.appendChild(item);
      const result = await scrubFile(file);
      return { file, result, keep: describe(item, result, index) };
    }));
  };
  input.addEventListener("change", refresh);
  if (input.files && input.files.length) refresh();
  return {
    async prepared() {
      return (await pending).map(({ file, result, keep }) => (keep && keep.checked
        ? { name: file.name, type: file.type, blob: file }
        : { name: result.name, type: result.type, blob: result.blob }));
    },
    reset() {
      list.replaceChildren();
      pending = Promise.resolve([]);
    },
  };
}
