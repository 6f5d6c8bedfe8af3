//! QR codes drawn with half-block characters: each character cell holds two modules stacked,
//! so the code stays square on a terminal whose cells are twice as tall as wide.

use qrcode::{Color, QrCode};

/// Light modules around the code, on every side. Scanners need a margin; 2 keeps a WhatsApp
/// code within an 80x24-ish terminal while phones still read it.
pub const QUIET_ZONE: usize = 2;

/// The lines of `data` as a QR code: `█` both modules dark, `▀` top dark, `▄` bottom dark,
/// space both light.
pub fn render(data: &str) -> Result<Vec<String>, qrcode::types::QrError> {
    let code = QrCode::new(data.as_bytes())?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 2 * QUIET_ZONE;
    let dark = |x: usize, y: usize| {
        let inside = (QUIET_ZONE..QUIET_ZONE + width).contains(&x)
            && (QUIET_ZONE..QUIET_ZONE + width).contains(&y);
        inside && colors[(y - QUIET_ZONE) * width + (x - QUIET_ZONE)] == Color::Dark
    };
    let lines = (0..size)
        .step_by(2)
        .map(|y| {
            (0..size)
                .map(|x| match (dark(x, y), dark(x, y + 1)) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                })
                .collect()
        })
        .collect();
    Ok(lines)
}

/// Paints a line black on white, so the code reads the same on dark and light terminals.
pub fn paint(line: &str) -> String {
    format!("\x1b[30;107m{line}\x1b[0m")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_a_quiet_zone() {
        let lines = render("hello").unwrap();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert_eq!(lines.len(), width.div_ceil(2));
        assert!(
            lines[0].chars().all(|c| c == ' '),
            "the top margin is light"
        );
        assert!(lines[1].starts_with("  █"), "{:?}", lines[1]);
    }
}
