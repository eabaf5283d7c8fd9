// File sizes as the server's `filesize` filter writes them (whistle/i18n.py): "58 bytes" /
// "58 字节" below 1 KB, else "20 MB" with at most one decimal. The byte forms are translated
// on the server and handed over in data attributes ("{n}" stands for the number).
const UNITS = ["KB", "MB", "GB", "TB"];

export function formatSize(size, byteOne, byteOther) {
  const n = Number(size) || 0;
  if (n < 1024) return (n === 1 ? byteOne : byteOther).replace("{n}", String(n));
  let value = n;
  let unit = UNITS[0];
  for (unit of UNITS) {
    value /= 1024;
    if (value < 1024) break;
  }
  const number = new Intl.NumberFormat(document.documentElement.lang || "en", { maximumFractionDigits: 1 })
    .format(Math.round(value * 10) / 10);
  return `${number} ${unit}`;
}

/** "Download name (size)" from the strings of templates/_filesize.html. */
export function downloadLabel(meta, strings) {
  const size = formatSize(meta.size, strings.sizeOne, strings.sizeOther);
  return strings.downloadFile.replace("{name}", meta.name).replace("{size}", size);
}
