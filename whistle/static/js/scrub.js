// Strips identifying metadata from a reporter's file in this browser, before it is sealed:
// the same formats, rules and report keys as whistle/scrub on the server (docs/metadata.md).
// Images are cleaned losslessly, block by block; PDFs through pdf-lib; Office and
// OpenDocument packages through fflate. A file that cannot be cleaned comes back unchanged
// with a status saying why, never an exception.
import { PDFDocument, PDFName, PDFDict, PDFRef, PDFStream, PDFRawStream, PDFString, decodePDFRawStream }
  from "/static/vendor/pdf-lib.mjs";
import { unzipSync, zipSync } from "/static/vendor/fflate.mjs";

export const CLEANED = "cleaned";
export const UNSUPPORTED = "unsupported";
export const UNREADABLE = "unreadable";

const MAX_VALUE = 120;
const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8");
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

class Unreadable extends Error {}

/** What a stripper found and removed, without repeats (see whistle/scrub/result.py). */
class Report {
  constructor() {
    this.found = [];
    this.removed = [];
  }

  find(kind, value) {
    const text = String(value ?? "").replace(/\0/g, " ").split(/\s+/).filter(Boolean).join(" ").slice(0, MAX_VALUE);
    if (text && !this.found.some(([k, v]) => k === kind && v === text)) this.found.push([kind, text]);
  }

  remove(kind) {
    if (!this.removed.includes(kind)) this.removed.push(kind);
  }
}

function need(data, end) {
  if (end > data.length) throw new Unreadable("cut short");
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function startsWith(data, prefix, at = 0) {
  const bytes = typeof prefix === "string" ? encoder.encode(prefix) : prefix;
  if (at + bytes.length > data.length) return false;
  return bytes.every((b, i) => data[at + i] === b);
}

const be16 = (d, i) => (d[i] << 8) | d[i + 1];
const be32 = (d, i) => ((d[i] << 24) >>> 0) + (d[i + 1] << 16) + (d[i + 2] << 8) + d[i + 3];
const le32 = (d, i) => (d[i] | (d[i + 1] << 8) | (d[i + 2] << 16)) + (d[i + 3] << 24 >>> 0);

// --- What metadata says ----------------------------------------------------------------

function gpsText(lat, lon) {
  return `${Math.abs(lat).toFixed(1)}°${lat < 0 ? "S" : "N"} ${Math.abs(lon).toFixed(1)}°${lon < 0 ? "W" : "E"}`;
}

/** The entries of one TIFF directory: tag -> value (strings, numbers, or lists of numbers). */
function readIfd(tiff, offset, little) {
  const u16 = (i) => (little ? tiff[i] | (tiff[i + 1] << 8) : be16(tiff, i));
  const u32 = (i) => (little ? le32(tiff, i) : be32(tiff, i));
  const sizes = { 1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8 };
  const entries = new Map();
  need(tiff, offset + 2);
  const count = u16(offset);
  for (let n = 0; n < count; n++) {
    const at = offset + 2 + n * 12;
    need(tiff, at + 12);
    const [tag, type, items] = [u16(at), u16(at + 2), u32(at + 4)];
    const size = (sizes[type] || 1) * items;
    const start = size > 4 ? u32(at + 8) : at + 8;
    if (size > 65536 || start + size > tiff.length) continue;
    if (type === 2 || type === 7) entries.set(tag, utf8.decode(tiff.subarray(start, start + size)).replace(/\0+$/, ""));
    else if (type === 3) entries.set(tag, u16(start));
    else if (type === 4) entries.set(tag, u32(start));
    else if (type === 5) {
      const values = [];
      for (let i = 0; i < items; i++) values.push(u32(start + 8 * i) / (u32(start + 8 * i + 4) || NaN));
      entries.set(tag, values);
    }
  }
  return entries;
}

/** Findings from an Exif block (TIFF, with or without "Exif\0\0"); its orientation, or 1. */
function readExif(block, report) {
  const tiff = startsWith(block, "Exif") ? block.subarray(6) : block;
  try {
    const little = tiff[0] === 0x49;
    const ifd0 = readIfd(tiff, little ? le32(tiff, 4) : be32(tiff, 4), little);
    const sub = ifd0.has(0x8769) ? readIfd(tiff, ifd0.get(0x8769), little) : new Map();
    const gps = ifd0.has(0x8825) ? readIfd(tiff, ifd0.get(0x8825), little) : new Map();
    const coordinate = (value, ref) => {
      if (!Array.isArray(value) || value.length < 3 || value.some((v) => !Number.isFinite(v))) return null;
      const number = value[0] + value[1] / 60 + value[2] / 3600;
      return /^[SW]/i.test(String(ref)) ? -number : number;
    };
    const [lat, lon] = [coordinate(gps.get(2), gps.get(1)), coordinate(gps.get(4), gps.get(3))];
    if (lat !== null && lon !== null) report.find("gps", gpsText(lat, lon));
    report.find("camera", [ifd0.get(0x10f), ifd0.get(0x110)].filter(Boolean).join(" "));
    report.find("serial", sub.get(0xa431));
    for (const tag of [0x13b, 0x8298]) report.find("author", ifd0.get(tag));
    report.find("author", sub.get(0xa430));
    report.find("software", ifd0.get(0x131));
    report.find("date", sub.get(0x9003) || ifd0.get(0x132));
    const orientation = ifd0.get(0x112);
    return Number.isInteger(orientation) ? orientation : 1;
  } catch {
    return 1; // a block we cannot read is still removed; it just tells nothing
  }
}

const XMP_FIELDS = [
  ["author", /<dc:creator>([\s\S]*?)<\/dc:creator>/g], ["author", /<tiff:Artist>([\s\S]*?)<\/tiff:Artist>/g],
  ["author", /\b(?:tiff:Artist|pdf:Author)="([^"]*)"/g], ["software", /<xmp:CreatorTool>([\s\S]*?)<\/xmp:CreatorTool>/g],
  ["software", /\bxmp:CreatorTool="([^"]*)"/g], ["software", /<pdf:Producer>([\s\S]*?)<\/pdf:Producer>/g],
  ["camera", /<tiff:Model>([\s\S]*?)<\/tiff:Model>/g], ["camera", /\btiff:Model="([^"]*)"/g],
  ["date", /<xmp:CreateDate>([\s\S]*?)<\/xmp:CreateDate>/g], ["date", /\bxmp:CreateDate="([^"]*)"/g],
];

function readXmp(block, report) {
  const xml = utf8.decode(block.subarray(0, 1024 * 1024));
  for (const [kind, pattern] of XMP_FIELDS) {
    for (const match of xml.matchAll(pattern)) report.find(kind, match[1].replace(/<[^>]*>/g, " "));
  }
  if (xml.includes("exif:GPSLatitude")) {
    const parts = ["Latitude", "Longitude"].map((name) => {
      const m = xml.match(new RegExp(`exif:GPS${name}(?:>|=")(\\d+),(\\d+(?:\\.\\d+)?)([NSEW])`));
      return m ? (Number(m[1]) + Number(m[2]) / 60) * (/[SW]/.test(m[3]) ? -1 : 1) : null;
    });
    report.find("gps", parts.includes(null) ? "GPS" : gpsText(parts[0], parts[1]));
  }
}

function readIptc(block, report) {
  for (let i = 0; i + 5 <= block.length; i++) {
    if (block[i] === 0x1c && block[i + 1] === 0x02 && block[i + 2] === 0x50) {
      const size = be16(block, i + 3);
      if (size < 0x8000) report.find("author", utf8.decode(block.subarray(i + 5, i + 5 + size)));
      return;
    }
  }
}

// --- JPEG -------------------------------------------------------------------------------

function orientationSegment(orientation) {
  if (!(orientation >= 2 && orientation <= 8)) return new Uint8Array(0);
  const payload = concat([encoder.encode("Exif\0\0MM\0*"), Uint8Array.of(0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1,
    0, orientation, 0, 0, 0, 0, 0, 0)]);
  return concat([Uint8Array.of(0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 0xff), payload]);
}

function jfif(segment) {
  if (segment.length >= 18 && (segment[16] || segment[17])) {
    const body = concat([segment.subarray(4, 16), Uint8Array.of(0, 0)]);
    return concat([Uint8Array.of(0xff, 0xe0, 0, body.length + 2), body]);
  }
  return segment;
}

const XMP_IDS = ["http://ns.adobe.com/xap/1.0/\0", "http://ns.adobe.com/xmp/extension/\0"];

function jpegSegment(marker, segment, report) {
  const payload = segment.subarray(4);
  if (marker === 0xe0 && startsWith(payload, "JFIF\0")) return jfif(segment);
  if (marker === 0xe2 && startsWith(payload, "ICC_PROFILE\0")) return segment;
  if (marker === 0xee && startsWith(payload, "Adobe")) return segment;
  if (marker === 0xe1 && startsWith(payload, "Exif")) {
    report.remove("exif");
    return orientationSegment(readExif(payload, report));
  }
  if (marker === 0xe1 && XMP_IDS.some((id) => startsWith(payload, id))) {
    readXmp(payload, report);
    report.remove("xmp");
    return new Uint8Array(0);
  }
  if (marker === 0xed) {
    readIptc(payload, report);
    report.remove("iptc");
    return new Uint8Array(0);
  }
  if (marker === 0xfe) {
    report.remove("comment");
    return new Uint8Array(0);
  }
  if (marker >= 0xe0 && marker <= 0xef) {
    report.remove("other");
    return new Uint8Array(0);
  }
  return segment;
}

function entropyEnd(data, pos) {
  for (;;) {
    pos = data.indexOf(0xff, pos);
    if (pos < 0 || pos + 1 >= data.length) return data.length;
    const following = data[pos + 1];
    if (following === 0 || (following >= 0xd0 && following <= 0xd7)) pos += 2;
    else if (following === 0xff) pos += 1;
    else return pos;
  }
}

function jpeg(data, report) {
  const out = [Uint8Array.of(0xff, 0xd8)];
  let pos = 2;
  while (pos < data.length) {
    if (data[pos] !== 0xff) throw new Unreadable("no marker");
    while (pos + 1 < data.length && data[pos + 1] === 0xff) pos++;
    need(data, pos + 2);
    const marker = data[pos + 1];
    if (marker === 0xd9) {
      out.push(Uint8Array.of(0xff, 0xd9));
      if (data.subarray(pos + 2).some((b) => b !== 0)) report.remove("other");
      return concat(out);
    }
    if (marker === 0x01 || marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7)) {
      out.push(data.subarray(pos, pos + 2));
      pos += 2;
      continue;
    }
    need(data, pos + 4);
    const end = pos + 2 + be16(data, pos + 2);
    if (end < pos + 4) throw new Unreadable("segment length");
    need(data, end);
    out.push(jpegSegment(marker, data.subarray(pos, end), report));
    pos = end;
    if (marker === 0xda) {
      const scanEnd = entropyEnd(data, pos);
      out.push(data.subarray(pos, scanEnd));
      pos = scanEnd;
    }
  }
  if (out.length < 3) throw new Unreadable("no image");
  return concat(out);
}

// --- PNG --------------------------------------------------------------------------------

const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
const PNG_KEEP = new Set(["tRNS", "cHRM", "gAMA", "iCCP", "sBIT", "sRGB", "cICP", "mDCV", "cLLI", "bKGD", "hIST",
  "pHYs", "sPLT", "acTL", "fcTL", "fdAT"]);
const PNG_TEXT_KINDS = { author: "author", artist: "author", copyright: "author", software: "software",
  "creation time": "date", title: "title", source: "camera" };

function pngText(type, body, report) {
  const zero = body.indexOf(0);
  const key = latin1.decode(body.subarray(0, zero < 0 ? body.length : zero));
  let text = "";
  if (type === "tEXt") text = latin1.decode(body.subarray(zero + 1));
  else if (type === "iTXt" && body[zero + 1] === 0) {
    const rest = body.subarray(zero + 3);
    const lang = rest.indexOf(0);
    const translated = rest.indexOf(0, lang + 1);
    text = utf8.decode(rest.subarray(translated + 1));
  }
  if (key === "XML:com.adobe.xmp") {
    readXmp(encoder.encode(text), report);
    report.remove("xmp");
    return;
  }
  const kind = PNG_TEXT_KINDS[key.toLowerCase()];
  if (kind) report.find(kind, text); // compressed text is removed unread: no inflating here
  report.remove("text");
}

function png(data, report) {
  const out = [PNG_SIGNATURE];
  let pos = 8;
  for (;;) {
    need(data, pos + 8);
    const length = be32(data, pos);
    const type = latin1.decode(data.subarray(pos + 4, pos + 8));
    const end = pos + 12 + length;
    need(data, end);
    const body = data.subarray(pos + 8, end - 4);
    if (/^[A-Z]/.test(type) || PNG_KEEP.has(type)) out.push(data.subarray(pos, end));
    else if (type === "tEXt" || type === "zTXt" || type === "iTXt") pngText(type, body, report);
    else if (type === "eXIf") {
      readExif(body, report);
      report.remove("exif");
    } else if (type === "tIME") report.remove("timestamps");
    else report.remove("other");
    pos = end;
    if (type === "IEND") {
      if (pos < data.length) report.remove("other");
      return concat(out);
    }
  }
}

// --- WebP -------------------------------------------------------------------------------

const WEBP_KEEP = new Set(["VP8 ", "VP8L", "VP8X", "ALPH", "ANIM", "ANMF", "ICCP"]);

function webp(data, report) {
  const end = 8 + le32(data, 4);
  need(data, end);
  const chunks = [encoder.encode("WEBP")];
  let pos = 12;
  while (pos + 8 <= end) {
    const fourcc = latin1.decode(data.subarray(pos, pos + 4));
    const size = le32(data, pos + 4);
    need(data, pos + 8 + size);
    const body = data.subarray(pos + 8, pos + 8 + size);
    const padded = new Uint8Array(8 + size + (size & 1));
    padded.set(data.subarray(pos, pos + 8 + size));
    if (fourcc === "VP8X" && size >= 10) {
      padded[8] &= ~0x0c; // no longer announces Exif (0x08) or XMP (0x04)
      chunks.push(padded);
    } else if (WEBP_KEEP.has(fourcc)) chunks.push(padded);
    else if (fourcc === "EXIF") {
      readExif(body, report);
      report.remove("exif");
    } else if (fourcc === "XMP ") {
      readXmp(body, report);
      report.remove("xmp");
    } else report.remove("other");
    pos += 8 + size + (size & 1);
  }
  if (pos !== end && pos !== end + 1) throw new Unreadable("chunk past the end");
  if (data.length > end) report.remove("other");
  const body = concat(chunks);
  const header = new Uint8Array(8);
  header.set(encoder.encode("RIFF"));
  new DataView(header.buffer).setUint32(4, body.length, true);
  return concat([header, body]);
}

// --- GIF --------------------------------------------------------------------------------

const GIF_APPS_KEPT = ["NETSCAPE2.0", "ANIMEXTS1.0", "ICCRGBG1012"];

function subBlocks(data, pos) {
  for (;;) {
    need(data, pos + 1);
    const size = data[pos];
    pos += 1 + size;
    if (size === 0) {
      need(data, pos);
      return pos;
    }
  }
}

function gif(data, report) {
  need(data, 13);
  let pos = 13 + (data[10] & 0x80 ? 3 * 2 ** ((data[10] & 7) + 1) : 0);
  need(data, pos);
  const out = [data.subarray(0, pos)];
  for (;;) {
    need(data, pos + 1);
    const kind = data[pos];
    let end;
    if (kind === 0x3b) {
      out.push(Uint8Array.of(0x3b));
      if (pos + 1 < data.length) report.remove("other");
      return concat(out);
    }
    if (kind === 0x2c) {
      need(data, pos + 10);
      const flags = data[pos + 9];
      const start = pos + 10 + (flags & 0x80 ? 3 * 2 ** ((flags & 7) + 1) : 0);
      end = subBlocks(data, start + 1);
      out.push(data.subarray(pos, end));
    } else if (kind === 0x21) {
      need(data, pos + 2);
      const label = data[pos + 1];
      end = subBlocks(data, pos + 2);
      const app = latin1.decode(data.subarray(pos + 3, pos + 14));
      if (label === 0xfe) report.remove("comment");
      else if (label === 0xff && !(data[pos + 2] === 11 && GIF_APPS_KEPT.includes(app))) {
        if (app === "XMP DataXMP") {
          readXmp(data.subarray(pos + 14, end), report);
          report.remove("xmp");
        } else report.remove("other");
      } else out.push(data.subarray(pos, end));
    } else throw new Unreadable("unknown GIF block");
    pos = end;
  }
}

// --- PDF --------------------------------------------------------------------------------

const INFO_KINDS = { Author: "author", Creator: "software", Producer: "software", Title: "title",
  CreationDate: "date", ModDate: "date", Company: "company", Manager: "company" };

function pdfDate(text) {
  const m = /^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?/.exec(text);
  if (!m) return text;
  const day = [m[1], m[2], m[3]].filter(Boolean).join("-");
  return m[4] && m[5] ? `${day} ${m[4]}:${m[5]}` : day;
}

function pdfText(value) {
  return value && typeof value.decodeText === "function" ? value.decodeText() : "";
}

function xmpOf(context, ref, report) {
  try {
    const stream = context.lookup(ref);
    if (stream instanceof PDFRawStream) readXmp(decodePDFRawStream(stream).decode(), report);
  } catch {
    // removed all the same
  }
}

async function pdf(data, report) {
  let doc;
  try {
    doc = await PDFDocument.load(data, { updateMetadata: false });
  } catch (err) {
    throw new Unreadable(String(err));
  }
  const { context } = doc;
  const infoRef = context.trailerInfo.Info;
  const info = infoRef ? context.lookup(infoRef) : null;
  if (info instanceof PDFDict) {
    for (const [key, kind] of Object.entries(INFO_KINDS)) {
      const text = pdfText(info.get(PDFName.of(key)));
      report.find(kind, kind === "date" ? pdfDate(text) : text);
    }
    report.remove("doc_info");
  }
  if (infoRef) context.delete(infoRef);
  context.trailerInfo.Info = undefined;
  if (context.trailerInfo.ID) report.remove("doc_id");
  context.trailerInfo.ID = undefined;
  const orphans = [];
  for (const [, object] of context.enumerateIndirectObjects()) {
    const dict = object instanceof PDFStream ? object.dict : object instanceof PDFDict ? object : null;
    if (!dict) continue;
    const metadata = dict.get(PDFName.of("Metadata"));
    if (metadata) {
      xmpOf(context, metadata, report);
      if (metadata instanceof PDFRef) orphans.push(metadata);
      dict.delete(PDFName.of("Metadata"));
      report.remove("xmp");
    }
    if (dict.has(PDFName.of("PieceInfo"))) {
      dict.delete(PDFName.of("PieceInfo"));
      report.remove("other");
    }
    const isAnnotation = dict.get(PDFName.of("Type")) === PDFName.of("Annot")
      || (dict.has(PDFName.of("Subtype")) && dict.has(PDFName.of("Rect")));
    if (isAnnotation) {
      if (dict.get(PDFName.of("Subtype")) !== PDFName.of("Widget") && dict.has(PDFName.of("T"))) {
        report.find("author", pdfText(dict.get(PDFName.of("T"))));
        dict.set(PDFName.of("T"), PDFString.of(""));
        report.remove("comment_authors");
      }
      for (const key of ["M", "CreationDate"]) {
        if (dict.has(PDFName.of(key))) {
          dict.delete(PDFName.of(key));
          report.remove("timestamps");
        }
      }
    }
  }
  for (const ref of orphans) context.delete(ref); // an unreferenced stream would still be saved
  return doc.save({ updateFieldAppearances: false });
}

// --- Office Open XML and OpenDocument ---------------------------------------------------

const DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
const EMPTY_OOXML = {
  "docProps/core.xml": `${DECLARATION}<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/`
    + 'metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"/>',
  "docProps/app.xml": `${DECLARATION}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/`
    + 'extended-properties"/>',
  "docProps/custom.xml": `${DECLARATION}<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/`
    + 'custom-properties"/>',
};
const PROPERTY_FINDINGS = [
  ["author", /<dc:creator>([\s\S]*?)<\/dc:creator>/g], ["author", /<cp:lastModifiedBy>([\s\S]*?)<\/cp:lastModifiedBy>/g],
  ["author", /<meta:initial-creator>([\s\S]*?)<\/meta:initial-creator>/g], ["author", /<Manager>([\s\S]*?)<\/Manager>/g],
  ["company", /<Company>([\s\S]*?)<\/Company>/g], ["software", /<Application>([\s\S]*?)<\/Application>/g],
  ["software", /<meta:generator>([\s\S]*?)<\/meta:generator>/g], ["title", /<dc:title>([\s\S]*?)<\/dc:title>/g],
  ["date", /<dcterms:created[^>]*>([\s\S]*?)<\/dcterms:created>/g],
  ["date", /<meta:creation-date>([\s\S]*?)<\/meta:creation-date>/g], ["path", /<Template>([\s\S]*?)<\/Template>/g],
];
const OOXML_PERSON = /(\s(?:[\w.-]+:)?(?:author|initials|userId|providerId)=)("[^"]*"|'[^']*')/g;
const OOXML_NAMED_PERSON = /(\s(?:name|displayName|initials)=)("[^"]*"|'[^']*')/g;
const OOXML_DROP_ATTRIBUTE = /\s(?:w:date|w16du:dateUtc|(?:[\w.-]+:)?rsid\w*|xr\d*:uid|dt)=(?:"[^"]*"|'[^']*')/g;
const OOXML_DROP_ELEMENT = /<w:rsids>[\s\S]*?<\/w:rsids>|<xr:revisionPtr\b[^>]*\/>|<x15ac:absPath\b[^>]*\/>|<w15:presenceInfo\b[^>]*\/>/g;
const XLSX_AUTHOR = /(<author>)([\s\S]*?)(<\/author>)/g;
const PERSON_PARTS = /^(?:ppt\/(?:commentAuthors|authors)\.xml|xl\/persons\/[^/]*\.xml)$/;
const ODF_CREATOR = /(<dc:creator>|<meta:creator-initials>)([\s\S]*?)(<\/dc:creator>|<\/meta:creator-initials>)/g;
const ODF_DATE = /(<dc:date>)([\s\S]*?)(<\/dc:date>)/g;
const ODF_DROP_ATTRIBUTE = /\sofficeooo:(?:paragraph-)?rsid=(?:"[^"]*"|'[^']*')/g;
const ODF_SETTINGS = /<config:config-item config:name="(?:Rsid|RsidRoot|PrinterName|PrinterSetup)"[^>]*>[\s\S]*?<\/config:config-item>/g;

function values(pattern, xml, group, kind, report) {
  for (const m of xml.matchAll(pattern)) report.find(kind, m[group].replace(/^["']|["']$/g, ""));
}

function blank(pattern, xml) {
  return xml.replace(pattern, (...m) => (m[3] !== undefined && typeof m[3] === "string" ? m[1] + m[3] : `${m[1]}""`));
}

function step(xml, kind, report, edit) {
  const edited = edit(xml);
  if (edited !== xml) report.remove(kind);
  return edited;
}

function readProperties(xml, report) {
  for (const [kind, pattern] of PROPERTY_FINDINGS) values(pattern, xml, 1, kind, report);
  report.remove("properties");
}

function blankPeople(name, xml, report) {
  values(OOXML_PERSON, xml, 2, "author", report);
  let out = blank(OOXML_PERSON, xml);
  if (PERSON_PARTS.test(name)) {
    values(OOXML_NAMED_PERSON, out, 2, "author", report);
    out = blank(OOXML_NAMED_PERSON, out);
  }
  if (name.startsWith("xl/comments")) {
    values(XLSX_AUTHOR, out, 2, "author", report);
    out = blank(XLSX_AUTHOR, out);
  }
  return out;
}

function ooxmlPart(name, xml, report) {
  if (name in EMPTY_OOXML) {
    readProperties(xml, report);
    return EMPTY_OOXML[name];
  }
  const people = step(xml, "comment_authors", report, (x) => blankPeople(name, x, report));
  return step(people, "revision_ids", report,
    (x) => x.replace(OOXML_DROP_ATTRIBUTE, "").replace(OOXML_DROP_ELEMENT, ""));
}

function odfPart(name, xml, report) {
  if (name === "meta.xml") {
    readProperties(xml, report);
    const version = /office:version="([0-9.]{1,8})"/.exec(xml);
    return `${DECLARATION.replace(' standalone="yes"', "")}<office:document-meta `
      + 'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
      + `office:version="${version ? version[1] : "1.2"}"><office:meta/></office:document-meta>`;
  }
  values(ODF_CREATOR, xml, 2, "author", report);
  const people = step(xml, "comment_authors", report, (x) => blank(ODF_CREATOR, x));
  const dated = step(people, "timestamps", report, (x) => x.replace(ODF_DATE, (m, open, _, close) => `${open}1970-01-01T00:00:00${close}`));
  return step(dated, "revision_ids", report, (x) => x.replace(ODF_DROP_ATTRIBUTE, "").replace(ODF_SETTINGS, ""));
}

function editorFor(names) {
  if (names.includes("[Content_Types].xml")) {
    return (name) => (/\.(xml|rels)$/.test(name) && !name.startsWith("customXml/") && name !== "[Content_Types].xml"
      ? ooxmlPart : null);
  }
  if (names.includes("mimetype") && names.includes("content.xml")) {
    return (name) => (["meta.xml", "content.xml", "styles.xml", "settings.xml"].includes(name) ? odfPart : null);
  }
  return null;
}

const ZIP_TIME = new Date(1980, 0, 1, 0, 0, 0); // every entry gets the same time

function office(data, report) {
  let entries;
  try {
    entries = unzipSync(data);
  } catch (err) {
    throw new Unreadable(String(err));
  }
  const names = Object.keys(entries);
  const editor = editorFor(names);
  if (!editor) throw new Unreadable("not an office document");
  const files = {};
  for (const name of names) {
    const edit = editor(name);
    let bytes = entries[name];
    if (edit) bytes = encoder.encode(edit(name, strictUtf8.decode(bytes), report));
    // The OpenDocument "mimetype" entry must stay first and uncompressed.
    files[name] = [bytes, { level: name === "mimetype" ? 0 : 6, mtime: ZIP_TIME }];
  }
  report.remove("timestamps");
  return zipSync(files);
}

// --- HEIC: only where this browser can decode it ---------------------------------------

async function heic(file, report) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    return null;
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.92 });
  report.remove("exif");
  report.remove("xmp");
  return new Uint8Array(await blob.arrayBuffer());
}

// --- The whole file ---------------------------------------------------------------------

const OFFICE_EXTENSIONS = /\.(docx|xlsx|pptx|docm|xlsm|pptm|odt|ods|odp|odg)$/i;

/** The format to strip, from the first bytes (see whistle.scrub.sniff). */
export function sniff(name, type, head) {
  if (startsWith(head, Uint8Array.of(0xff, 0xd8, 0xff))) return "jpeg";
  if (startsWith(head, PNG_SIGNATURE)) return "png";
  if (startsWith(head, "RIFF") && startsWith(head, "WEBP", 8)) return "webp";
  if (startsWith(head, "GIF87a") || startsWith(head, "GIF89a")) return "gif";
  if (latin1.decode(head.subarray(0, 1024)).includes("%PDF-")) return "pdf";
  if (startsWith(head, "PK\x03\x04") && OFFICE_EXTENSIONS.test(name || "")) return "office";
  if (startsWith(head, "ftyp", 4) && /^(heic|heix|hevc|heim|heis|mif1|msf1)$/.test(latin1.decode(head.subarray(8, 12)))) {
    return "heic";
  }
  if ((type === "text/plain" || /\.txt$/i.test(name || "")) && !head.subarray(0, 4096).includes(0)) return "text";
  return null;
}

const STRIPPERS = { jpeg, png, webp, gif, pdf, office };

/**
 * Strip ``file`` (a File): resolves to { blob, name, type, status, found, removed }, where
 * blob holds the cleaned bytes (or is the file itself, for any status but "cleaned"), and
 * found is a list of [kind, value] pairs. A file of a type we cannot clean is not read whole.
 */
export async function scrubFile(file) {
  const unchanged = (status) => ({ blob: file, name: file.name, type: file.type, status, found: [], removed: [] });
  if (file.size === 0) return unchanged(CLEANED);
  const head = new Uint8Array(await file.slice(0, 4096).arrayBuffer());
  const kind = sniff(file.name, file.type, head);
  if (kind === null) return unchanged(UNSUPPORTED);
  if (kind === "text") return unchanged(CLEANED); // plain text holds nothing but what it shows
  const report = new Report();
  const cleaned = (bytes, name, type) => ({ blob: new Blob([bytes], { type }), name, type, status: CLEANED,
    found: report.found, removed: report.removed });
  try {
    if (kind === "heic") {
      const bytes = await heic(file, report);
      return bytes === null ? unchanged(UNSUPPORTED)
        : cleaned(bytes, `${file.name.replace(/\.[^.]*$/, "")}.jpg`, "image/jpeg");
    }
    const bytes = await STRIPPERS[kind](new Uint8Array(await file.arrayBuffer()), report);
    return cleaned(bytes, file.name, file.type);
  } catch {
    return unchanged(UNREADABLE); // whatever a damaged file makes a parser do, it is sealed unchanged
  }
}
