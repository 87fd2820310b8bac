//! Badge PDFs written as they are rendered. Every page's content stream goes to the
//! output as soon as it is ready, so a 10,000-badge batch never holds the document in
//! memory: what stays is a few bytes per page (its object offsets for the xref table).
//!
//! All pages share one resource dictionary: one embedded font and one logo image.
//! Text is shown with the font's own glyph ids as CIDs, so a page can be written before
//! the font is subset; once the last page is in, the font is subset to the glyphs used
//! and a `/CIDToGIDMap` translates the original ids to the subset's renumbered ones.

use std::collections::BTreeMap;
use std::io::{self, Write};

use flate2::write::ZlibEncoder;
use flate2::Compression;
use printpdf::ToUnicodeCMap;

use super::render::{BadgeLayout, Font, Mark, PtRect};
use super::BadgeError;

/// Object numbers fixed before the first page, because every page refers to them.
const CATALOG: u32 = 1;
const PAGE_TREE: u32 = 2;
const RESOURCES: u32 = 3;
const FONT: u32 = 4;
const FIXED_OBJECTS: u32 = 4;

/// The resource names the content streams use.
const FONT_NAME: &str = "F1";
const LOGO_NAME: &str = "Logo";

/// One page, rendered but not yet written: its compressed content stream and the glyphs
/// it shows. Building one needs no writer, so pages can be rendered on several threads.
pub struct PageContent {
    width_pt: f32,
    height_pt: f32,
    /// The zlib-compressed content stream.
    stream: Vec<u8>,
    /// Every glyph shown (glyph id, the character it stands for), for the font subset
    /// and the text-extraction map.
    glyphs: Vec<(u16, char)>,
}

impl PageContent {
    /// The PDF drawing operators of `layout`, compressed.
    pub fn new(layout: &BadgeLayout, font: &Font) -> Result<Self, BadgeError> {
        let mut ops = Vec::with_capacity(16 * 1024);
        let mut glyphs = Vec::new();
        for mark in &layout.marks {
            match mark {
                Mark::Fill { rect, colour } => {
                    fill_colour(&mut ops, *colour);
                    rectangle(&mut ops, rect);
                    ops.extend_from_slice(b"f\n");
                }
                Mark::Logo { rect } => {
                    // An image fills the unit square: scale it to the rectangle.
                    ops.extend_from_slice(b"q ");
                    numbers(&mut ops, &[rect.w, 0.0, 0.0, rect.h, rect.x, rect.y]);
                    ops.extend_from_slice(format!("cm /{LOGO_NAME} Do Q\n").as_bytes());
                }
                Mark::Qr { runs } => {
                    // One path for the whole code, filled once.
                    fill_colour(&mut ops, [0, 0, 0]);
                    for run in runs {
                        rectangle(&mut ops, run);
                    }
                    ops.extend_from_slice(b"f\n");
                }
                Mark::Text { x, baseline, size, colour, text } => {
                    fill_colour(&mut ops, *colour);
                    ops.extend_from_slice(format!("BT /{FONT_NAME} ").as_bytes());
                    numbers(&mut ops, &[*size]);
                    ops.extend_from_slice(b"Tf ");
                    numbers(&mut ops, &[*x, *baseline]);
                    ops.extend_from_slice(b"Td <");
                    for c in text.chars() {
                        let glyph = font.glyph(c);
                        hex_u16(&mut ops, glyph);
                        glyphs.push((glyph, c));
                    }
                    ops.extend_from_slice(b"> Tj ET\n");
                }
            }
        }
        // Content streams are written once per badge: the fastest level keeps most of
        // the size win (QR coordinates repeat a lot) for a fraction of the time.
        let stream = deflate(&ops, Compression::fast()).map_err(BadgeError::Write)?;
        Ok(PageContent { width_pt: layout.width_pt, height_pt: layout.height_pt, stream, glyphs })
    }
}

/// A decoded image, ready to embed as an image XObject.
pub struct Image {
    pub width: u32,
    pub height: u32,
    colour_space: &'static str,
    /// The colour samples, 8 bits each, zlib-compressed.
    samples: Vec<u8>,
    /// The alpha channel (a soft mask), zlib-compressed, if the image has one.
    alpha: Option<Vec<u8>>,
}

impl Image {
    /// Decodes a PNG of any colour type into 8-bit samples, compressed once so every
    /// document embedding it only copies bytes.
    pub fn from_png(png_bytes: &[u8]) -> Result<Image, String> {
        let failed = |e: png::DecodingError| format!("PNG: {e}");
        let mut decoder = png::Decoder::new(io::Cursor::new(png_bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().map_err(failed)?;
        let size = reader.output_buffer_size().ok_or("PNG: image too large")?;
        let mut pixels = vec![0; size];
        let frame = reader.next_frame(&mut pixels).map_err(failed)?;
        pixels.truncate(frame.buffer_size());
        let (colour_space, channels, has_alpha) = match frame.color_type {
            png::ColorType::Grayscale => ("DeviceGray", 1, false),
            png::ColorType::GrayscaleAlpha => ("DeviceGray", 2, true),
            png::ColorType::Rgb => ("DeviceRGB", 3, false),
            png::ColorType::Rgba => ("DeviceRGB", 4, true),
            // `normalize_to_color8` expands palettes.
            png::ColorType::Indexed => return Err("PNG: palette was not expanded".into()),
        };
        let compress =
            |bytes: &[u8]| deflate(bytes, Compression::best()).map_err(|e| e.to_string());
        let (samples, alpha) = if has_alpha {
            let colour_channels = channels - 1;
            let mut colour = Vec::with_capacity(pixels.len() / channels * colour_channels);
            let mut alpha = Vec::with_capacity(pixels.len() / channels);
            for pixel in pixels.chunks_exact(channels) {
                colour.extend_from_slice(&pixel[..colour_channels]);
                alpha.push(pixel[colour_channels]);
            }
            (compress(&colour)?, Some(compress(&alpha)?))
        } else {
            (compress(&pixels)?, None)
        };
        Ok(Image { width: frame.width, height: frame.height, colour_space, samples, alpha })
    }
}

/// A PDF of badge pages being written to `W`, one page at a time.
pub struct PdfWriter<W: Write> {
    out: CountingWriter<W>,
    /// The byte offset of every object, by object number - 1 (0 until it is written).
    offsets: Vec<u64>,
    /// The page objects, in order.
    pages: Vec<u32>,
    /// Every glyph shown so far and the character it stands for.
    glyphs: BTreeMap<u16, char>,
    font: &'static Font,
    title: String,
}

impl<W: Write> PdfWriter<W> {
    /// Starts a PDF titled `title` whose pages show `font` and `logo`.
    pub fn new(out: W, title: &str, font: &'static Font, logo: &Image) -> Result<Self, BadgeError> {
        let mut writer = PdfWriter {
            out: CountingWriter { inner: out, written: 0 },
            offsets: vec![0; FIXED_OBJECTS as usize],
            pages: Vec::new(),
            glyphs: BTreeMap::new(),
            font,
            title: title.to_owned(),
        };
        // The second line's high bytes tell transfer tools the file is binary.
        writer.out.write_all(b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n").map_err(BadgeError::Write)?;
        let logo_id = writer.image(logo)?;
        writer.object(
            RESOURCES,
            &format!(
                "<< /Font << /{FONT_NAME} {FONT} 0 R >> /XObject << /{LOGO_NAME} {logo_id} 0 R >> >>"
            ),
        )?;
        Ok(writer)
    }

    /// Appends `page` after the pages written so far.
    pub fn add_page(&mut self, page: PageContent) -> Result<(), BadgeError> {
        let content = self.reserve();
        self.stream(content, "", &page.stream)?;
        let id = self.reserve();
        let mut media_box = b"[0 0 ".to_vec();
        numbers(&mut media_box, &[page.width_pt, page.height_pt]);
        media_box.push(b']');
        let media_box = String::from_utf8_lossy(&media_box);
        self.object(
            id,
            &format!(
                "<< /Type /Page /Parent {PAGE_TREE} 0 R /MediaBox {media_box} \
                 /Resources {RESOURCES} 0 R /Contents {content} 0 R >>"
            ),
        )?;
        self.pages.push(id);
        self.glyphs.extend(page.glyphs.into_iter().filter(|&(glyph, _)| glyph != 0));
        Ok(())
    }

    /// Pages written so far.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Writes the font subset, the page tree and the cross-reference table, and hands
    /// back the output. A PDF without pages is refused.
    pub fn finish(mut self) -> Result<W, BadgeError> {
        if self.pages.is_empty() {
            return Err(BadgeError::Render("no badges to render".into()));
        }
        self.write_font()?;
        let kids: String = self.pages.iter().map(|id| format!("{id} 0 R ")).collect();
        let count = self.pages.len();
        self.object(PAGE_TREE, &format!("<< /Type /Pages /Count {count} /Kids [{kids}] >>"))?;
        self.object(CATALOG, &format!("<< /Type /Catalog /Pages {PAGE_TREE} 0 R >>"))?;
        let info = self.reserve();
        let title = text_string(&self.title);
        self.object(info, &format!("<< /Title {title} /Producer (expo-kiosk) >>"))?;

        let xref_at = self.out.written;
        let mut xref = format!("xref\n0 {}\n0000000000 65535 f \n", self.offsets.len() + 1);
        for offset in &self.offsets {
            xref.push_str(&format!("{offset:010} 00000 n \n"));
        }
        xref.push_str(&format!(
            "trailer\n<< /Size {} /Root {CATALOG} 0 R /Info {info} 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
            self.offsets.len() + 1
        ));
        self.out.write_all(xref.as_bytes()).map_err(BadgeError::Write)?;
        self.out.inner.flush().map_err(BadgeError::Write)?;
        Ok(self.out.inner)
    }

    /// The font subset to the glyphs shown, as a Type0 font with Identity-H codes that
    /// are the original glyph ids.
    fn write_font(&mut self) -> Result<(), BadgeError> {
        let font = self.font;
        let used: BTreeMap<u16, String> =
            self.glyphs.iter().map(|(&glyph, &c)| (glyph, c.to_string())).collect();
        let subset = printpdf::subset_font(font.parsed(), &used).map_err(BadgeError::Font)?;

        let program = self.reserve();
        let compressed =
            deflate(&subset.bytes, Compression::default()).map_err(BadgeError::Write)?;
        self.stream(program, &format!("/Length1 {}", subset.bytes.len()), &compressed)?;

        // CID (original glyph id) -> subset glyph id, two bytes big-endian per CID.
        let last_cid = self.glyphs.keys().next_back().copied().unwrap_or(0);
        let mut cid_to_gid = vec![0u8; 2 * (usize::from(last_cid) + 1)];
        for (&original, &(renumbered, _)) in &subset.glyph_mapping {
            let at = 2 * usize::from(original);
            cid_to_gid[at..at + 2].copy_from_slice(&renumbered.to_be_bytes());
        }
        let map = self.reserve();
        let compressed = deflate(&cid_to_gid, Compression::default()).map_err(BadgeError::Write)?;
        self.stream(map, "", &compressed)?;

        let to_unicode = ToUnicodeCMap {
            mappings: self
                .glyphs
                .iter()
                .map(|(&g, &c)| (u32::from(g), vec![u32::from(c)]))
                .collect(),
        };
        let base_name = font.pdf_name();
        let cmap = self.reserve();
        let compressed =
            deflate(to_unicode.to_cmap_string(base_name).as_bytes(), Compression::default())
                .map_err(BadgeError::Write)?;
        self.stream(cmap, "", &compressed)?;

        let name = format!("{}+{base_name}", subset_tag(self.glyphs.keys()));
        let metrics = font.descriptor_metrics();
        let descriptor = self.reserve();
        self.object(
            descriptor,
            &format!(
                "<< /Type /FontDescriptor /FontName /{name} /Flags 4 /ItalicAngle 0 \
                 /Ascent {} /Descent {} /CapHeight {} /StemV 80 /FontBBox [{} {} {} {}] \
                 /FontFile2 {program} 0 R >>",
                metrics.ascent,
                metrics.descent,
                metrics.ascent,
                metrics.bbox[0],
                metrics.bbox[1],
                metrics.bbox[2],
                metrics.bbox[3],
            ),
        )?;
        let widths: String = self
            .glyphs
            .keys()
            .map(|&glyph| format!("{glyph} [{}] ", font.advance_per_mille(glyph)))
            .collect();
        let cid_font = self.reserve();
        self.object(
            cid_font,
            &format!(
                "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{name} \
                 /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> \
                 /FontDescriptor {descriptor} 0 R /CIDToGIDMap {map} 0 R /DW 1000 /W [{widths}] >>"
            ),
        )?;
        self.object(
            FONT,
            &format!(
                "<< /Type /Font /Subtype /Type0 /BaseFont /{name} /Encoding /Identity-H \
                 /DescendantFonts [{cid_font} 0 R] /ToUnicode {cmap} 0 R >>"
            ),
        )
    }

    fn image(&mut self, image: &Image) -> Result<u32, BadgeError> {
        let common = format!(
            "/Type /XObject /Subtype /Image /Width {} /Height {} /BitsPerComponent 8",
            image.width, image.height
        );
        let soft_mask = match &image.alpha {
            Some(alpha) => {
                let id = self.reserve();
                self.stream(id, &format!("{common} /ColorSpace /DeviceGray"), alpha)?;
                format!(" /SMask {id} 0 R")
            }
            None => String::new(),
        };
        let id = self.reserve();
        self.stream(
            id,
            &format!("{common} /ColorSpace /{}{soft_mask}", image.colour_space),
            &image.samples,
        )?;
        Ok(id)
    }

    /// A new object number, written later.
    fn reserve(&mut self) -> u32 {
        self.offsets.push(0);
        // Object numbers are 1-based; a PDF with 4 billion objects is not a badge batch.
        u32::try_from(self.offsets.len()).unwrap_or(u32::MAX)
    }

    fn begin(&mut self, id: u32) -> Result<(), BadgeError> {
        self.offsets[id as usize - 1] = self.out.written;
        writeln!(self.out, "{id} 0 obj").map_err(BadgeError::Write)
    }

    fn object(&mut self, id: u32, body: &str) -> Result<(), BadgeError> {
        self.begin(id)?;
        writeln!(self.out, "{body}\nendobj").map_err(BadgeError::Write)
    }

    /// A zlib-compressed stream object: `entries` are its dictionary's, apart from
    /// /Length and /Filter.
    fn stream(&mut self, id: u32, entries: &str, data: &[u8]) -> Result<(), BadgeError> {
        self.begin(id)?;
        let separator = if entries.is_empty() { "" } else { " " };
        write!(
            self.out,
            "<< {entries}{separator}/Length {} /Filter /FlateDecode >>\nstream\n",
            data.len()
        )
        .and_then(|()| self.out.write_all(data))
        .and_then(|()| self.out.write_all(b"\nendstream\nendobj\n"))
        .map_err(BadgeError::Write)
    }
}

/// Counts the bytes written through it: the xref table needs every object's offset.
struct CountingWriter<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn deflate(bytes: &[u8], level: Compression) -> io::Result<Vec<u8>> {
    let mut encoder = ZlibEncoder::new(Vec::with_capacity(bytes.len() / 3), level);
    encoder.write_all(bytes)?;
    encoder.finish()
}

fn fill_colour(ops: &mut Vec<u8>, [r, g, b]: [u8; 3]) {
    let unit = |v: u8| f32::from(v) / 255.0;
    numbers(ops, &[unit(r), unit(g), unit(b)]);
    ops.extend_from_slice(b"rg\n");
}

fn rectangle(ops: &mut Vec<u8>, rect: &PtRect) {
    numbers(ops, &[rect.x, rect.y, rect.w, rect.h]);
    ops.extend_from_slice(b"re\n");
}

/// Each value followed by a space.
fn numbers(ops: &mut Vec<u8>, values: &[f32]) {
    for &value in values {
        number(ops, value);
        ops.push(b' ');
    }
}

/// A PDF number to a thousandth of a point (a third of a micrometre), without trailing
/// zeros. Written digit by digit: a page has over a thousand of them.
fn number(out: &mut Vec<u8>, value: f32) {
    let thousandths = (f64::from(value) * 1000.0).round() as i64;
    if thousandths < 0 {
        out.push(b'-');
    }
    let (whole, fraction) = (thousandths.unsigned_abs() / 1000, thousandths.unsigned_abs() % 1000);
    digits(out, whole);
    if fraction != 0 {
        out.push(b'.');
        let places = [fraction / 100, fraction / 10 % 10, fraction % 10];
        let significant = match (fraction % 100, fraction % 10) {
            (0, _) => 1,
            (_, 0) => 2,
            _ => 3,
        };
        // Each place is a single decimal digit.
        out.extend(places[..significant].iter().map(|&d| b'0' + d as u8));
    }
}

fn digits(out: &mut Vec<u8>, mut value: u64) {
    let start = out.len();
    loop {
        // `value % 10` is a single decimal digit.
        out.push(b'0' + (value % 10) as u8);
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out[start..].reverse();
}

/// Four upper-case hex digits.
fn hex_u16(out: &mut Vec<u8>, value: u16) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend([12, 8, 4, 0].map(|shift| HEX[usize::from((value >> shift) & 0xf)]));
}

/// A PDF text string: UTF-16BE with a byte-order mark, in hex, so any title survives.
fn text_string(text: &str) -> String {
    let mut hex = String::from("<FEFF");
    for unit in text.encode_utf16() {
        hex.push_str(&format!("{unit:04X}"));
    }
    hex.push('>');
    hex
}

/// The six capital letters that mark a subset font's name (ISO 32000-1, 9.6.4), derived
/// from the glyphs it holds so different subsets get different names.
fn subset_tag<'a>(glyphs: impl Iterator<Item = &'a u16>) -> String {
    // FNV-1a: stable across runs and Rust versions, unlike the std hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for glyph in glyphs {
        for byte in glyph.to_be_bytes() {
            hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
        }
    }
    (0..6)
        // Five bits per letter, reduced to the 26 capitals.
        .map(|i| char::from(b'A' + ((hash >> (i * 5)) % 26) as u8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_a_thousandth_of_a_point_and_drop_trailing_zeros() {
        let mut out = Vec::new();
        numbers(&mut out, &[0.0, 12.5, -3.25, 1.0 / 3.0, 1.0, -0.0004, 1234.06, 0.1]);
        assert_eq!(String::from_utf8(out).unwrap(), "0 12.5 -3.25 0.333 1 0 1234.06 0.1 ");
    }

    #[test]
    fn glyph_ids_are_four_hex_digits() {
        let mut out = Vec::new();
        for glyph in [0, 0x4e2d, 0xffff, 7] {
            hex_u16(&mut out, glyph);
        }
        assert_eq!(out, b"00004E2DFFFF0007");
    }

    #[test]
    fn titles_are_utf16_hex_strings() {
        assert_eq!(text_string("A展"), "<FEFF00415C55>");
    }

    #[test]
    fn subset_tags_are_six_capitals_that_depend_on_the_glyphs() {
        let one = subset_tag([1u16, 2, 3].iter());
        let other = subset_tag([1u16, 2, 4].iter());
        assert_eq!(one.len(), 6);
        assert!(one.chars().all(|c| c.is_ascii_uppercase()), "{one}");
        assert_ne!(one, other);
    }
}
