//! Renders QR codes for people: a PNG data URL for the API and pages, SVG for the dashboard.

use base64::Engine as _;
use qrcode::{Color, QrCode};

/// Pixels per QR module and the quiet zone around the code, in modules.
const SCALE: usize = 6;
const QUIET_ZONE: usize = 4;

/// Encodes `text` as a PNG image in a `data:` URL.
pub fn png_data_url(text: &str) -> Result<String, String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| format!("cannot encode QR: {e}"))?;
    let modules = code.width();
    let side = (modules + 2 * QUIET_ZONE) * SCALE;
    let colors = code.to_colors();
    let mut pixels = vec![255u8; side * side];
    for y in 0..modules {
        for x in 0..modules {
            if colors[y * modules + x] == Color::Dark {
                for dy in 0..SCALE {
                    let row = (y + QUIET_ZONE) * SCALE + dy;
                    let start = row * side + (x + QUIET_ZONE) * SCALE;
                    pixels[start..start + SCALE].fill(0);
                }
            }
        }
    }
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
        writer
            .write_image_data(&pixels)
            .map_err(|e| e.to_string())?;
    }
    Ok(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}

/// Encodes `text` as an SVG document.
pub fn svg(text: &str) -> Result<String, String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| format!("cannot encode QR: {e}"))?;
    Ok(code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    #[test]
    fn png_is_a_png() {
        use base64::Engine as _;
        let url = super::png_data_url("2@abc,def,ghi,jkl").unwrap();
        let b64 = url.strip_prefix("data:image/png;base64,").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert!(bytes.starts_with(b"\x89PNG"));
        assert!(super::svg("x").unwrap().contains("<svg"));
    }
}
