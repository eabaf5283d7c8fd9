"""Files full of identifying metadata, made here, for the stripping tests (Python, no-JS and
browser). Each marker is a string that must not survive stripping."""

import io
import zipfile

import pikepdf
from PIL import Image, PngImagePlugin

ARTIST = "Zhang Wei Photographer"
PNG_AUTHOR = "Li Na Author"
PDF_AUTHOR = "Wang Fang Info"
XMP_AUTHOR = "Chen Jie Xmp"
DOCX_CREATOR = "Liu Yang Creator"
DOCX_COMPANY = "Secret Holdings Company"
DOCX_REVIEWER = "Zhao Lei Reviewer"
CAMERA = "Huawei"
MARKERS = {
    "photo.jpg": [ARTIST.encode(), CAMERA.encode()],
    "scan.png": [PNG_AUTHOR.encode()],
    "memo.pdf": [PDF_AUTHOR.encode(), XMP_AUTHOR.encode()],
    "minutes.docx": [DOCX_CREATOR.encode(), DOCX_COMPANY.encode(), DOCX_REVIEWER.encode()],
}
DOCUMENT_TEXT = "The meeting approved the transfer."


def _gps(value: float):
    degrees = int(value)
    minutes = (value - degrees) * 60
    return (degrees, int(minutes), round((minutes - int(minutes)) * 60, 2))


def jpeg(size=(64, 48), orientation: int | None = None) -> bytes:
    """A JPEG with Exif: artist, camera, time and a GPS position (31.23°N 121.47°E)."""
    exif = Image.Exif()
    exif[0x013B] = ARTIST
    exif[0x010F] = CAMERA
    exif[0x0110] = "P40"
    exif[0x0132] = "2026:03:01 09:30:00"
    if orientation:
        exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: _gps(31.2304), 3: "E", 4: _gps(121.4737)})
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "JPEG", exif=exif, comment=b"shot by " + ARTIST.encode())
    return out.getvalue()


def png(size=(40, 30)) -> bytes:
    """A PNG with Author and Software text chunks and a time chunk."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", PNG_AUTHOR)
    info.add_text("Software", "Scanner Suite 9", zip=True)
    out = io.BytesIO()
    Image.new("RGBA", size, (0, 90, 200, 255)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def webp(size=(20, 10)) -> bytes:
    """A WebP with Exif (artist) and XMP."""
    exif = Image.Exif()
    exif[0x013B] = ARTIST
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 10)).save(out, "WEBP", exif=exif, xmp=_xmp(XMP_AUTHOR))
    return out.getvalue()


def gif(size=(12, 8)) -> bytes:
    """A GIF with a comment."""
    out = io.BytesIO()
    Image.new("P", size, 3).save(out, "GIF", comment=("by " + ARTIST).encode())
    return out.getvalue()


def _xmp(author: str) -> bytes:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:creator><rdf:Seq><rdf:li>{author}</rdf:li></rdf:Seq></dc:creator>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


def pdf(pages: int = 2) -> bytes:
    """A PDF of ``pages`` pages of text, with an Info author, an XMP author and document ids."""
    doc = pikepdf.new()
    font = doc.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    for number in range(pages):
        page = doc.add_blank_page(page_size=(300, 300))
        page.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
        text = f"BT /F1 12 Tf 20 200 Td ({DOCUMENT_TEXT} {number + 1}) Tj ET".encode()
        page.Contents = doc.make_stream(text)
    doc.docinfo["/Author"] = PDF_AUTHOR
    doc.docinfo["/Creator"] = "Writer 7"
    doc.Root.Metadata = doc.make_stream(_xmp(XMP_AUTHOR), Type=pikepdf.Name.Metadata, Subtype=pikepdf.Name.XML)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'wordprocessingml.document.main+xml"/>'
    '<Override PartName="/word/comments.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'wordprocessingml.comments+xml"/>'
    '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.'
    'core-properties+xml"/>'
    '<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'extended-properties+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="word/document.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/'
    'core-properties" Target="docProps/core.xml"/>'
    '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'extended-properties" Target="docProps/app.xml"/></Relationships>'
)
_DOC_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'comments" Target="comments.xml"/></Relationships>'
)
_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_DOCUMENT = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {_W}><w:body>'
    f'<w:p w:rsidR="00A1B2C3" w:rsidRDefault="00A1B2C3"><w:r><w:t>{DOCUMENT_TEXT}</w:t></w:r></w:p>'
    f'<w:p><w:ins w:id="1" w:author="{DOCX_REVIEWER}" w:date="2026-03-01T09:30:00Z">'
    "<w:r><w:t>Added later.</w:t></w:r></w:ins></w:p></w:body></w:document>"
)
_COMMENTS = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:comments {_W}>'
    f'<w:comment w:id="0" w:author="{DOCX_REVIEWER}" w:initials="ZL" w:date="2026-03-01T09:31:00Z">'
    "<w:p><w:r><w:t>Check this.</w:t></w:r></w:p></w:comment></w:comments>"
)
_CORE = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><cp:coreProperties '
    'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    f"<dc:creator>{DOCX_CREATOR}</dc:creator><cp:lastModifiedBy>{DOCX_CREATOR}</cp:lastModifiedBy>"
    '<dcterms:created xsi:type="dcterms:W3CDTF">2026-03-01T09:00:00Z</dcterms:created></cp:coreProperties>'
)
_APP = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Properties xmlns="http://schemas.openxmlformats.org/'
    f'officeDocument/2006/extended-properties"><Application>Microsoft Office Word</Application>'
    f"<Company>{DOCX_COMPANY}</Company></Properties>"
)


def docx() -> bytes:
    """A Word document with a creator, a company, a tracked insertion and a comment."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _RELS),
            ("word/document.xml", _DOCUMENT),
            ("word/_rels/document.xml.rels", _DOC_RELS),
            ("word/comments.xml", _COMMENTS),
            ("docProps/core.xml", _CORE),
            ("docProps/app.xml", _APP),
        ):
            z.writestr(zipfile.ZipInfo(name, date_time=(2026, 3, 1, 9, 30, 0)), text)
    return out.getvalue()


_ODT_CONTENT = (
    '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:officeooo="http://openoffice.org/2009/office" office:version="1.3"><office:body><office:text>'
    f'<text:p officeooo:rsid="0012ab34">{DOCUMENT_TEXT}<office:annotation><dc:creator>{DOCX_REVIEWER}</dc:creator>'
    "<dc:date>2026-03-01T09:31:00</dc:date><text:p>Check this.</text:p></office:annotation></text:p>"
    "</office:text></office:body></office:document-content>"
)
_ODT_META = (
    '<?xml version="1.0" encoding="UTF-8"?><office:document-meta '
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/" '
    f'office:version="1.3"><office:meta><meta:initial-creator>{DOCX_CREATOR}</meta:initial-creator>'
    "<meta:generator>LibreOffice/7.6</meta:generator></office:meta></office:document-meta>"
)
_ODT_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
    '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    '<manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/></manifest:manifest>'
)


def odt() -> bytes:
    """An OpenDocument text with an initial creator and a comment by a reviewer."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        for name, text in (
            ("content.xml", _ODT_CONTENT),
            ("meta.xml", _ODT_META),
            ("META-INF/manifest.xml", _ODT_MANIFEST),
        ):
            z.writestr(
                zipfile.ZipInfo(name, date_time=(2026, 3, 1, 9, 30, 0)), text, compress_type=zipfile.ZIP_DEFLATED
            )
    return out.getvalue()


SAMPLES = {"photo.jpg": jpeg, "scan.png": png, "memo.pdf": pdf, "minutes.docx": docx}


def check_clean(name: str, data: bytes) -> None:
    """``data``, the stripped copy of SAMPLES[name](), has none of its markers and still opens
    (as a picture of the same size, a PDF of the same pages and text, a Word document)."""
    import docx as python_docx  # only the tests that check documents need it

    for marker in MARKERS[name]:
        assert marker not in data, (name, marker)
    if name.endswith((".jpg", ".png")):
        with Image.open(io.BytesIO(data)) as im:
            assert im.size == (64, 48) if name.endswith(".jpg") else (40, 30)
            assert not dict(im.getexif()) and not getattr(im, "text", None)
    elif name.endswith(".pdf"):
        with pikepdf.open(io.BytesIO(data)) as doc:
            assert len(doc.pages) == 2 and "/Info" not in doc.trailer and "/Metadata" not in doc.Root
            assert DOCUMENT_TEXT.encode() in doc.pages[1].Contents.read_bytes()
    else:
        assert python_docx.Document(io.BytesIO(data)).paragraphs[0].text == DOCUMENT_TEXT
