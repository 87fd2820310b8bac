//! Generator of camera-like QR frames: tilt, perspective, blur, noise, low contrast and uneven
//! light at 1280 × 720, for measuring decoders on frames as hard as a desk webcam produces.

use image::GrayImage;
use qrcode::{Color, EcLevel, QrCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Frame width of the generated corpus.
pub const FRAME_WIDTH: u32 = 1280;
/// Frame height of the generated corpus.
pub const FRAME_HEIGHT: u32 = 720;
/// Focal length in pixels of a typical 65° webcam at 1280 px width.
const FOCAL_PX: f64 = 1000.0;
/// Quiet zone printed around badge codes, in modules (badges often print less than the standard 4).
const QUIET_MODULES: usize = 2;

/// How one frame is degraded; every field is drawn at random by [`FrameParams::random`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameParams {
    /// Module width in pixels where the code faces the camera.
    pub module_px: f64,
    /// Tilt of the code plane away from the camera, in degrees.
    pub tilt_deg: f64,
    /// Direction of the tilt axis in the image plane, in degrees.
    pub tilt_axis_deg: f64,
    /// Rotation of the code in its own plane, in degrees.
    pub rotation_deg: f64,
    /// Code centre offset from the frame centre, in pixels.
    pub offset: (f64, f64),
    /// Grey level of dark modules (0-255).
    pub dark: f64,
    /// Grey level of light modules and paper (0-255).
    pub light: f64,
    /// Fraction of light lost across the frame (uneven lighting).
    pub light_falloff: f64,
    /// Direction of the lighting gradient, in degrees.
    pub light_direction_deg: f64,
    /// Gaussian blur sigma in pixels (focus and motion).
    pub blur_sigma: f64,
    /// Gaussian sensor noise sigma in grey levels.
    pub noise_sigma: f64,
}

impl FrameParams {
    /// A badge held up to the camera: 4-px modules, slightly tilted and turned, fair light,
    /// a little blur and noise (what the demo and the tests show the simulated camera).
    pub fn held_up() -> Self {
        Self {
            module_px: 4.0,
            tilt_deg: 10.0,
            tilt_axis_deg: 30.0,
            rotation_deg: 8.0,
            offset: (40.0, -20.0),
            dark: 40.0,
            light: 210.0,
            light_falloff: 0.15,
            light_direction_deg: 45.0,
            blur_sigma: 0.5,
            noise_sigma: 3.0,
        }
    }

    /// Draws parameters across the hard range: modules 2-7 px, tilt up to 40°, contrast down to
    /// about 50 grey levels, up to 55 % light falloff, blur up to 1.3 px, noise up to 12 levels.
    pub fn random(rng: &mut impl Rng) -> Self {
        let dark = rng.gen_range(20.0..110.0);
        Self {
            module_px: rng.gen_range(2.0..7.0),
            tilt_deg: rng.gen_range(0.0..40.0),
            tilt_axis_deg: rng.gen_range(0.0..180.0),
            rotation_deg: rng.gen_range(0.0..360.0),
            offset: (rng.gen_range(-250.0..250.0), rng.gen_range(-120.0..120.0)),
            dark,
            light: rng.gen_range((dark + 50.0_f64).max(140.0)..240.0),
            light_falloff: rng.gen_range(0.0..0.55),
            light_direction_deg: rng.gen_range(0.0..360.0),
            blur_sigma: rng.gen_range(0.3..1.3),
            noise_sigma: rng.gen_range(2.0..12.0),
        }
    }
}

/// One corpus frame and the text its code carries.
#[derive(Debug, Clone)]
pub struct CorpusFrame {
    /// The 1280 × 720 grey frame.
    pub image: GrayImage,
    /// The encoded text.
    pub text: String,
    /// The degradation applied.
    pub params: FrameParams,
}

/// Generates `count` frames deterministically from `seed`.
pub fn generate(seed: u64, count: usize) -> Vec<CorpusFrame> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count)
        .filter_map(|index| {
            let text = badge_payload(&mut rng, index);
            let params = FrameParams::random(&mut rng);
            let image = render(&text, &params, &mut rng)?;
            Some(CorpusFrame { image, text, params })
        })
        .collect()
}

/// A payload like the kiosk's badge codes: an id and a signature of varying length.
fn badge_payload(rng: &mut impl Rng, index: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let signature_len = rng.gen_range(8..64);
    let signature: String = (0..signature_len)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect();
    format!("EXPO1.{index:06}.{signature}")
}

/// `text` on a badge held up to the camera ([`FrameParams::held_up`]), the same frame for the
/// same text; `None` if the text cannot be encoded.
pub fn held_up_frame(text: &str) -> Option<GrayImage> {
    render(text, &FrameParams::held_up(), &mut StdRng::seed_from_u64(1))
}

/// Renders `text` as a QR code photographed under `params`; `None` if the text cannot be encoded.
pub fn render(text: &str, params: &FrameParams, rng: &mut impl Rng) -> Option<GrayImage> {
    let code = QrCode::with_error_correction_level(text, EcLevel::M).ok()?;
    let modules = Modules::new(&code);
    let camera = Camera::new(params, modules.size as f64);
    let mut frame = vec![0.0_f64; (FRAME_WIDTH * FRAME_HEIGHT) as usize];
    let background = Background::new(rng, params);
    for y in 0..FRAME_HEIGHT {
        for x in 0..FRAME_WIDTH {
            // 2 × 2 supersampling so 2-px modules get realistic anti-aliased edges.
            let mut reflectance = 0.0;
            for (dx, dy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                let (px, py) = (f64::from(x) + dx, f64::from(y) + dy);
                reflectance += match camera.code_coordinates(px, py) {
                    Some((u, v)) if modules.contains(u, v) => {
                        if modules.is_dark(u, v) {
                            params.dark
                        } else {
                            params.light
                        }
                    }
                    _ => background.level(px, py),
                };
            }
            frame[(y * FRAME_WIDTH + x) as usize] = reflectance / 4.0;
        }
    }
    apply_lighting(&mut frame, params);
    let blurred = gaussian_blur(&frame, params.blur_sigma);
    Some(GrayImage::from_fn(FRAME_WIDTH, FRAME_HEIGHT, |x, y| {
        let value = blurred[(y * FRAME_WIDTH + x) as usize] + gaussian(rng) * params.noise_sigma;
        // Clamped to 0..=255 before the cast.
        image::Luma([value.round().clamp(0.0, 255.0) as u8])
    }))
}

/// The module grid including the quiet zone, in module units.
struct Modules {
    dark: Vec<bool>,
    size: usize,
}

impl Modules {
    fn new(code: &QrCode) -> Self {
        let inner = code.width();
        let size = inner + 2 * QUIET_MODULES;
        let colors = code.to_colors();
        let dark = (0..size * size)
            .map(|i| {
                let (row, col) = (i / size, i % size);
                let inside = QUIET_MODULES..QUIET_MODULES + inner;
                inside.contains(&row)
                    && inside.contains(&col)
                    && colors[(row - QUIET_MODULES) * inner + (col - QUIET_MODULES)] == Color::Dark
            })
            .collect();
        Self { dark, size }
    }

    fn contains(&self, u: f64, v: f64) -> bool {
        (0.0..self.size as f64).contains(&u) && (0.0..self.size as f64).contains(&v)
    }

    fn is_dark(&self, u: f64, v: f64) -> bool {
        // Callers checked `contains`, so both are in 0..size.
        self.dark[v as usize * self.size + u as usize]
    }
}

/// A pinhole camera looking at the code plane: maps pixels back to module coordinates.
struct Camera {
    /// Rows of the rotation taking code-plane axes to camera axes.
    rotation: [[f64; 3]; 3],
    /// Code centre in camera coordinates.
    centre: [f64; 3],
    /// Plane normal in camera coordinates.
    normal: [f64; 3],
    /// Pixels per module at the code's distance.
    scale: f64,
    half_size: f64,
}

impl Camera {
    fn new(params: &FrameParams, size_modules: f64) -> Self {
        let (tilt, axis, spin) = (
            params.tilt_deg.to_radians(),
            params.tilt_axis_deg.to_radians(),
            params.rotation_deg.to_radians(),
        );
        // Tilt about an in-plane axis (Rodrigues), then spin the code in its own plane.
        let k = [axis.cos(), axis.sin(), 0.0];
        let (s, c) = tilt.sin_cos();
        let tilt_matrix = [
            [c + k[0] * k[0] * (1.0 - c), k[0] * k[1] * (1.0 - c), k[1] * s],
            [k[1] * k[0] * (1.0 - c), c + k[1] * k[1] * (1.0 - c), -k[0] * s],
            [-k[1] * s, k[0] * s, c],
        ];
        let (ss, sc) = spin.sin_cos();
        let spin_matrix = [[sc, -ss, 0.0], [ss, sc, 0.0], [0.0, 0.0, 1.0]];
        let rotation = multiply(&tilt_matrix, &spin_matrix);
        let centre = [params.offset.0, params.offset.1, FOCAL_PX];
        let normal = [rotation[0][2], rotation[1][2], rotation[2][2]];
        Self { rotation, centre, normal, scale: params.module_px, half_size: size_modules / 2.0 }
    }

    /// Module coordinates (u, v) seen at pixel (x, y), if the ray meets the plane in front.
    fn code_coordinates(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let ray = [
            (x - f64::from(FRAME_WIDTH) / 2.0) / FOCAL_PX,
            (y - f64::from(FRAME_HEIGHT) / 2.0) / FOCAL_PX,
            1.0,
        ];
        let denominator = dot(&self.normal, &ray);
        if denominator.abs() < 1e-9 {
            return None;
        }
        let t = dot(&self.normal, &self.centre) / denominator;
        let hit =
            [ray[0] * t - self.centre[0], ray[1] * t - self.centre[1], ray[2] * t - self.centre[2]];
        // Back to code-plane axes with the transposed rotation.
        let u = (self.rotation[0][0] * hit[0]
            + self.rotation[1][0] * hit[1]
            + self.rotation[2][0] * hit[2])
            / self.scale;
        let v = (self.rotation[0][1] * hit[0]
            + self.rotation[1][1] * hit[1]
            + self.rotation[2][1] * hit[2])
            / self.scale;
        Some((u + self.half_size, v + self.half_size))
    }
}

fn dot(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn multiply(a: &[[f64; 3]; 3], b: &[[f64; 3]; 3]) -> [[f64; 3]; 3] {
    std::array::from_fn(|row| {
        std::array::from_fn(|col| (0..3).map(|k| a[row][k] * b[k][col]).sum())
    })
}

/// A cluttered desk behind the badge: a smooth gradient plus a few dark and light blocks.
struct Background {
    base: f64,
    slope: (f64, f64),
    blocks: Vec<(f64, f64, f64, f64, f64)>,
}

impl Background {
    fn new(rng: &mut impl Rng, params: &FrameParams) -> Self {
        let blocks = (0..rng.gen_range(2..8))
            .map(|_| {
                let (x, y) = (
                    rng.gen_range(0.0..f64::from(FRAME_WIDTH)),
                    rng.gen_range(0.0..f64::from(FRAME_HEIGHT)),
                );
                (
                    x,
                    y,
                    x + rng.gen_range(20.0..300.0),
                    y + rng.gen_range(20.0..200.0),
                    rng.gen_range(params.dark..params.light),
                )
            })
            .collect();
        Self {
            base: rng.gen_range(params.dark..params.light),
            slope: (rng.gen_range(-0.05..0.05), rng.gen_range(-0.05..0.05)),
            blocks,
        }
    }

    fn level(&self, x: f64, y: f64) -> f64 {
        self.blocks
            .iter()
            .find(|(x0, y0, x1, y1, _)| (*x0..*x1).contains(&x) && (*y0..*y1).contains(&y))
            .map_or(self.base + self.slope.0 * x + self.slope.1 * y, |block| block.4)
    }
}

/// Multiplies the frame by a linear light falloff plus mild vignetting.
fn apply_lighting(frame: &mut [f64], params: &FrameParams) {
    let (dir_y, dir_x) = params.light_direction_deg.to_radians().sin_cos();
    let (w, h) = (f64::from(FRAME_WIDTH), f64::from(FRAME_HEIGHT));
    let half_diagonal = (w * w + h * h).sqrt() / 2.0;
    for (index, value) in frame.iter_mut().enumerate() {
        let x = (index % FRAME_WIDTH as usize) as f64 - w / 2.0;
        let y = (index / FRAME_WIDTH as usize) as f64 - h / 2.0;
        let along = (x * dir_x + y * dir_y) / half_diagonal; // -1..1
        let radial = (x * x + y * y).sqrt() / half_diagonal;
        *value *=
            (1.0 - params.light_falloff * (along + 1.0) / 2.0) * (1.0 - 0.15 * radial * radial);
    }
}

/// Separable Gaussian blur with edge clamping.
fn gaussian_blur(frame: &[f64], sigma: f64) -> Vec<f64> {
    let radius = (sigma * 3.0).ceil() as isize;
    let weights: Vec<f64> =
        (-radius..=radius).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = weights.iter().sum();
    let (w, h) = (FRAME_WIDTH as isize, FRAME_HEIGHT as isize);
    let pass = |source: &[f64], horizontal: bool| -> Vec<f64> {
        (0..w * h)
            .map(|index| {
                let (x, y) = (index % w, index / w);
                weights
                    .iter()
                    .zip(-radius..=radius)
                    .map(|(weight, offset)| {
                        let (sx, sy) = if horizontal {
                            ((x + offset).clamp(0, w - 1), y)
                        } else {
                            (x, (y + offset).clamp(0, h - 1))
                        };
                        weight * source[(sy * w + sx) as usize]
                    })
                    .sum::<f64>()
                    / total
            })
            .collect()
    };
    pass(&pass(frame, true), false)
}

/// A standard normal sample (Box-Muller).
fn gaussian(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
