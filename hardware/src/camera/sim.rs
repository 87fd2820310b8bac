//! A camera simulator: plays image files or in-memory frames, one per frame interval, as a
//! camera would deliver them. Image files are a scene that stays put: they play in a loop,
//! as a camera keeps seeing a badge left in front of it. Frames [shown](SimulatedCamera::show)
//! play once, before the scene, as a badge held up and taken away.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use image::{GrayImage, Luma};

use super::{CameraError, FrameSource};

/// Frame interval of the simulator: 10 frames a second is plenty for a QR held still.
const FRAME_INTERVAL: Duration = Duration::from_millis(100);
/// Size of the empty scene; small, since decoding it only confirms there is nothing.
const EMPTY_SCENE: (u32, u32) = (320, 180);
/// Grey of the empty scene (a wall).
const EMPTY_GREY: u8 = 200;
/// File extensions played from a folder.
const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// A simulated camera; clones share the frames shown and the scene.
#[derive(Debug, Clone)]
pub struct SimulatedCamera {
    shown: Arc<Mutex<VecDeque<GrayImage>>>,
    scene: Arc<Vec<GrayImage>>,
    next_in_scene: usize,
    interval: Duration,
}

impl Default for SimulatedCamera {
    fn default() -> Self {
        Self::with_scene(Vec::new())
    }
}

impl SimulatedCamera {
    /// A camera looking at an empty scene until frames are [shown](Self::show).
    pub fn new() -> Self {
        Self::default()
    }

    fn with_scene(scene: Vec<GrayImage>) -> Self {
        Self {
            shown: Arc::default(),
            scene: Arc::new(scene),
            next_in_scene: 0,
            interval: FRAME_INTERVAL,
        }
    }

    /// A camera whose scene is the image files `paths`, in order, in a loop. A folder
    /// stands for its PNG and JPEG files, sorted by name.
    pub fn from_files(paths: &[impl AsRef<Path>]) -> Result<Self, CameraError> {
        let mut files = Vec::new();
        for path in paths {
            let path = path.as_ref();
            if path.is_dir() {
                let entries = std::fs::read_dir(path)
                    .map_err(|e| CameraError::Open(format!("{}: {e}", path.display())))?;
                let mut images: Vec<_> = entries
                    .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                    .filter(|file| {
                        let extension = file.extension().and_then(|e| e.to_str());
                        extension.is_some_and(|e| {
                            IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str())
                        })
                    })
                    .collect();
                images.sort();
                files.extend(images);
            } else {
                files.push(path.to_owned());
            }
        }
        let mut scene = Vec::with_capacity(files.len());
        for file in files {
            let image = image::open(&file)
                .map_err(|e| CameraError::Open(format!("{}: {e}", file.display())))?;
            scene.push(image.to_luma8());
        }
        if scene.is_empty() {
            return Err(CameraError::Open("no PNG or JPEG image to play".into()));
        }
        Ok(Self::with_scene(scene))
    }

    /// Queues `frame`: it is delivered once, after the frames already shown.
    pub fn show(&self, frame: GrayImage) {
        self.shown.lock().unwrap_or_else(PoisonError::into_inner).push_back(frame);
    }

    /// How many images the looping scene holds.
    pub fn scene_len(&self) -> usize {
        self.scene.len()
    }
}

impl FrameSource for SimulatedCamera {
    fn next_frame(&mut self) -> Result<Option<GrayImage>, CameraError> {
        std::thread::sleep(self.interval);
        let shown = self.shown.lock().unwrap_or_else(PoisonError::into_inner).pop_front();
        let frame = shown.or_else(|| {
            let frame = self.scene.get(self.next_in_scene % self.scene.len().max(1)).cloned();
            self.next_in_scene = self.next_in_scene.wrapping_add(1);
            frame
        });
        Ok(Some(frame.unwrap_or_else(|| {
            GrayImage::from_pixel(EMPTY_SCENE.0, EMPTY_SCENE.1, Luma([EMPTY_GREY]))
        })))
    }
}
