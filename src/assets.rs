//! Files from `assets/` compiled into the program, each embedded exactly once.

/// WenQuanYi Micro Hei (a TrueType Collection; face 0), covering CJK, Latin and digits.
/// One font serves the UI and the badge PDFs, so the two always look alike and the 5 MB
/// file is in the binary once. Licence: `assets/fonts/wqy-microhei.LICENSE.txt`.
pub fn cjk_font() -> &'static [u8] {
    include_bytes!("../assets/fonts/wqy-microhei.ttc")
}
