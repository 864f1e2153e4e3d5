"""PNG and JPEG files made by PIL: every PNG colour type and bit depth the decoder expands (gray 1/8/16 bits,
gray + alpha, RGB, RGBA, palette with and without tRNS; PIL writes no Adam7), and JPEGs gray, RGB (4:4:4, 4:2:0),
progressive and CMYK. Small (8 x 6), so the fuzzer mutates headers and data rather than pixels."""
import io

from PIL import Image


def encoded(image, format_name, **options):
    buffer = io.BytesIO()
    image.save(buffer, format_name, **options)
    return buffer.getvalue()


def seeds():
    rgb = Image.new("RGB", (8, 6))
    rgb.putdata([(x * 30, y * 40, (x + y) * 15) for y in range(6) for x in range(8)])
    palette = rgb.convert("P", palette=Image.ADAPTIVE, colors=4)
    palette_alpha = palette.copy()
    palette_alpha.info["transparency"] = 1
    return {
        "gray.png": encoded(rgb.convert("L"), "PNG"),
        "gray1.png": encoded(rgb.convert("1"), "PNG"),
        "gray16.png": encoded(rgb.convert("L").convert("I;16"), "PNG"),
        "gray_alpha.png": encoded(rgb.convert("LA"), "PNG"),
        "rgb.png": encoded(rgb, "PNG"),
        "rgba.png": encoded(rgb.convert("RGBA"), "PNG"),
        "palette.png": encoded(palette, "PNG"),
        "palette_trns.png": encoded(palette_alpha, "PNG"),
        "gray.jpg": encoded(rgb.convert("L"), "JPEG", quality=90),
        "rgb444.jpg": encoded(rgb, "JPEG", quality=90, subsampling=0),
        "rgb420.jpg": encoded(rgb, "JPEG", quality=75, subsampling=2),
        "progressive.jpg": encoded(rgb, "JPEG", progressive=True),
        "cmyk.jpg": encoded(rgb.convert("CMYK"), "JPEG"),
    }
