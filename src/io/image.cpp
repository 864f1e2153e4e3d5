#include "io/image.h"

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE
#include <jpeglib.h>
#include <jerror.h>
// clang-format on
#include <fmt/format.h>
#include <png.h>

#include <csetjmp>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "io/deflate_ratio.h"
#include "io/input_file.h"
#include "resnet/error.h"

// libpng and libjpeg report errors by calling a handler that must not return; ours longjmp back to the setjmp
// in a *_core function. Those functions therefore keep no object with a destructor in their own frame:
// everything they fill lives in the caller's frame, which the longjmp does not skip. (Throwing through the C
// libraries instead would need them built with -fexceptions.)

namespace resnet {
namespace {

constexpr size_t kMessageSize = 256;

bool is_png(const uint8_t* data, size_t size) {
  static constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return size >= 8 && std::memcmp(data, kSignature, 8) == 0;
}

bool is_jpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff;
}

// False (with a message) if the header's size is empty or over the pixel limit.
bool check_pixel_count(uint64_t width, uint64_t height, char* message) {
  if (width == 0 || height == 0 || width * height > kMaxImagePixels) {
    std::snprintf(message, kMessageSize,
                  "image of %llux%llu pixels is empty or over the limit of %llu pixels",
                  static_cast<unsigned long long>(width), static_cast<unsigned long long>(height),
                  static_cast<unsigned long long>(kMaxImagePixels));
    return false;
  }
  return true;
}

// Sizes the output image; false (with a message) if it is over the pixel limit.
bool allocate_image(Image* out, uint64_t width, uint64_t height, int channels, char* message) {
  if (!check_pixel_count(width, height, message)) return false;
  *out = Image(static_cast<int>(height), static_cast<int>(width), channels);
  return true;
}

// ----- PNG decoding

struct PngState {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char message[kMessageSize];
};

void png_read_memory(png_structp png, png_bytep dst, size_t count) {
  auto* state = static_cast<PngState*>(png_get_io_ptr(png));
  if (count > state->size - state->pos) png_error(png, "truncated: the file ends inside the image data");
  std::memcpy(dst, state->data + state->pos, count);
  state->pos += count;
}

[[noreturn]] void png_on_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(state->message, kMessageSize, "%s", message);
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}  // ancillary-chunk problems: PIL ignores them too

// What a PNG decodes to: its pixels (palettes expanded to colours), or its samples as class indices (a
// segmentation mask: a palette's indices, or gray levels of at most 8 bits, unexpanded).
enum class PngValues { pixels, indices };

// Indices: only palette and gray PNGs of at most 8 bits qualify (false with a message otherwise).
bool png_set_index_output(png_structp png, png_infop info, PngState* state) {
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  if ((color_type != PNG_COLOR_TYPE_PALETTE && color_type != PNG_COLOR_TYPE_GRAY) || bit_depth > 8) {
    std::snprintf(state->message, kMessageSize,
                  "a mask must be an 8-bit gray or a palette PNG (this one has color type %d, %d bits)",
                  color_type, bit_depth);
    return false;
  }
  if (color_type == PNG_COLOR_TYPE_PALETTE) {
    png_set_packing(png);  // 1/2/4-bit indices -> one byte each
  } else {
    png_set_expand_gray_1_2_4_to_8(png);
  }
  return true;
}

// From the header alone: the pixel limit, and whether the file is large enough to hold the image's samples
// compressed (false with a message otherwise).
bool png_check_header(png_structp png, png_infop info, PngState* state) {
  const uint64_t width = png_get_image_width(png, info), height = png_get_image_height(png, info);
  if (!check_pixel_count(width, height, state->message)) return false;
  const uint64_t bits = uint64_t(png_get_channels(png, info)) * png_get_bit_depth(png, info);
  const uint64_t sample_bytes = (width * height * bits + 7) / 8;  // a lower bound of the inflated IDAT data
  if (sample_bytes / kMaxDeflateRatio > state->size) {
    std::snprintf(
        state->message, kMessageSize,
        "%llux%llu pixels of %llu bits need %llu bytes of image data, more than a file of %llu bytes "
        "can hold",
        static_cast<unsigned long long>(width), static_cast<unsigned long long>(height),
        static_cast<unsigned long long>(bits), static_cast<unsigned long long>(sample_bytes),
        static_cast<unsigned long long>(state->size));
    return false;
  }
  return true;
}

bool png_decode_core(png_structp png, png_infop info, PngState* state, PngValues values, Image* out,
                     std::vector<png_bytep>* rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, state, &png_read_memory);
  png_read_info(png, info);
  if (!png_check_header(png, info, state)) return false;
  if (values == PngValues::indices) {
    if (!png_set_index_output(png, info, state)) return false;
  } else {
    png_set_expand(png);  // palette -> RGB, gray < 8 bits -> 8 bits, tRNS -> alpha
    png_set_strip_16(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  const int channels = png_get_channels(png, info);
  if (!allocate_image(out, png_get_image_width(png, info), png_get_image_height(png, info), channels,
                      state->message))
    return false;
  rows->resize(size_t(out->height));
  for (int y = 0; y < out->height; ++y) (*rows)[size_t(y)] = out->at(y, 0);
  png_read_image(png, rows->data());
  return true;
}

Image decode_png(const uint8_t* data, size_t size, const std::string& name, PngValues values) {
  PngState state{data, size, 0, {}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, &png_on_error, &png_on_warning);
  if (png == nullptr) throw InternalError("libpng: png_create_read_struct failed");
  png_infop info = png_create_info_struct(png);
  struct Guard {
    png_structp* png;
    png_infop* info;
    ~Guard() { png_destroy_read_struct(png, info, nullptr); }
  } guard{&png, &info};
  if (info == nullptr) throw InternalError("libpng: png_create_info_struct failed");
  Image image;
  std::vector<png_bytep> rows;
  if (!png_decode_core(png, info, &state, values, &image, &rows)) {
    throw InputError(fmt::format("{}: PNG: {}", name, state.message));
  }
  return image;
}

// ----- JPEG decoding

struct JpegError {
  jpeg_error_mgr mgr;  // first, so that cinfo->err can be cast back
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_on_error(j_common_ptr cinfo) {
  auto* error = reinterpret_cast<JpegError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, error->message);
  std::longjmp(error->jump, 1);
}

// Warnings are silent, except a premature end of file: a truncated image is an error (as in PIL), not gray
// rows.
void jpeg_on_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) jpeg_on_error(cinfo);
}

// A progressive file's scans are counted as they are read; too many is an error (they cost time, not
// memory).
void jpeg_count_scans(j_common_ptr cinfo) {
  auto* d = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (d->input_scan_number > kMaxJpegScans) {
    auto* error = reinterpret_cast<JpegError*>(cinfo->err);
    std::snprintf(error->message, JMSG_LENGTH_MAX, "more than %d scans", kMaxJpegScans);
    std::longjmp(error->jump, 1);
  }
}

bool jpeg_decode_core(jpeg_decompress_struct* cinfo, JpegError* error, jpeg_progress_mgr* progress,
                      const uint8_t* data, size_t size, Image* out) {
  if (setjmp(error->jump)) return false;
  jpeg_create_decompress(cinfo);
  progress->progress_monitor = &jpeg_count_scans;
  cinfo->progress = progress;
  jpeg_mem_src(cinfo, const_cast<unsigned char*>(data), static_cast<unsigned long>(size));
  jpeg_read_header(cinfo, TRUE);
  // Before jpeg_start_decompress allocates (a progressive file's coefficients: 2 bytes per sample).
  if (!check_pixel_count(cinfo->image_width, cinfo->image_height, error->message)) return false;
  switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
      cinfo->out_color_space = JCS_GRAYSCALE;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      cinfo->out_color_space = JCS_CMYK;  // converted to RGB by the caller
      break;
    default:
      cinfo->out_color_space = JCS_RGB;
  }
  jpeg_start_decompress(cinfo);
  if (!allocate_image(out, cinfo->output_width, cinfo->output_height, cinfo->output_components,
                      error->message))
    return false;
  while (cinfo->output_scanline < cinfo->output_height) {
    JSAMPROW row = out->at(static_cast<int>(cinfo->output_scanline), 0);
    jpeg_read_scanlines(cinfo, &row, 1);
  }
  return true;
}

// CMYK to RGB as PIL does: it reads every CMYK JPEG as Adobe writes them (inverted: 255 = no ink; "CMYK;I",
// whether or not the file has an Adobe marker) and converts with r = (255 - k) - (255 - k) c / 255, rounded
// as its MULDIV255; on the inverted bytes that is (c' k' + 127) / 255 exactly (checked for all 65536 pairs).
Image cmyk_to_rgb(const Image& cmyk) {
  Image rgb(cmyk.height, cmyk.width, 3);
  const size_t pixels = size_t(cmyk.height) * size_t(cmyk.width);
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* s = cmyk.pixels.data() + 4 * i;
    for (int c = 0; c < 3; ++c)
      rgb.pixels[3 * i + size_t(c)] = static_cast<uint8_t>((s[c] * s[3] + 127) / 255);
  }
  return rgb;
}

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& name) {
  jpeg_decompress_struct cinfo{};
  JpegError error{};
  jpeg_progress_mgr progress{};  // outlives the Guard's jpeg_destroy_decompress
  cinfo.err = jpeg_std_error(&error.mgr);
  error.mgr.error_exit = &jpeg_on_error;
  error.mgr.emit_message = &jpeg_on_message;
  struct Guard {
    jpeg_decompress_struct* cinfo;
    ~Guard() { jpeg_destroy_decompress(cinfo); }
  } guard{&cinfo};
  Image image;
  if (!jpeg_decode_core(&cinfo, &error, &progress, data, size, &image)) {
    throw InputError(fmt::format("{}: JPEG: {}", name, error.message));
  }
  if (cinfo.out_color_space == JCS_CMYK) return cmyk_to_rgb(image);
  return image;
}

// ----- JPEG encoding

bool jpeg_encode_core(jpeg_compress_struct* cinfo, JpegError* error, const Image* image, int quality,
                      unsigned char** buffer, unsigned long* size) {
  if (setjmp(error->jump)) return false;
  jpeg_create_compress(cinfo);
  jpeg_mem_dest(cinfo, buffer, size);
  cinfo->image_width = static_cast<JDIMENSION>(image->width);
  cinfo->image_height = static_cast<JDIMENSION>(image->height);
  cinfo->input_components = image->channels;
  cinfo->in_color_space = image->channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(cinfo);
  jpeg_set_quality(cinfo, quality, TRUE);
  jpeg_start_compress(cinfo, TRUE);
  while (cinfo->next_scanline < cinfo->image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(image->at(static_cast<int>(cinfo->next_scanline), 0));
    jpeg_write_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_compress(cinfo);
  return true;
}

}  // namespace

Image decode_image(const uint8_t* data, size_t size, const std::string& name) {
  if (is_png(data, size)) return decode_png(data, size, name, PngValues::pixels);
  if (is_jpeg(data, size)) return decode_jpeg(data, size, name);
  std::string start;
  for (size_t i = 0; i < std::min<size_t>(size, 4); ++i) start += fmt::format(" {:02x}", data[i]);
  throw InputError(fmt::format("{}: not a JPEG or PNG image (it starts with{})", name,
                               size == 0 ? " nothing: the file is empty" : start));
}

std::string encode_png(const Image& image) {
  static constexpr png_uint_32 kFormats[5] = {0, PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB,
                                              PNG_FORMAT_RGBA};
  if (image.channels < 1 || image.channels > 4) {
    throw InternalError(fmt::format("encode_png: {} channels (expected 1 to 4)", image.channels));
  }
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width);
  png.height = static_cast<png_uint_32>(image.height);
  png.format = kFormats[image.channels];
  png_alloc_size_t size = 0;
  std::string out;
  if (png_image_write_get_memory_size(png, size, 0, image.pixels.data(), 0, nullptr)) {
    out.resize(size);
    if (png_image_write_to_memory(&png, out.data(), &size, 0, image.pixels.data(), 0, nullptr)) {
      out.resize(size);
      return out;
    }
  }
  std::string message = png.message;
  png_image_free(&png);
  throw InternalError("libpng: cannot encode: " + message);
}

Image decode_index_png(const uint8_t* data, size_t size, const std::string& name) {
  if (!is_png(data, size)) throw InputError(fmt::format("{}: not a PNG file (a mask must be a PNG)", name));
  return decode_png(data, size, name, PngValues::indices);
}

Image read_index_png(const std::string& path) {
  InputFile file(path);
  std::vector<uint8_t> bytes(file.size());
  file.read(0, bytes.data(), bytes.size());
  return decode_index_png(bytes.data(), bytes.size(), path);
}

std::string encode_palette_png(const Image& indices, std::span<const std::array<uint8_t, 3>> palette) {
  if (indices.channels != 1 || palette.empty() || palette.size() > 256) {
    throw InternalError(fmt::format("encode_palette_png: {} channels and {} colours (expected 1 and 1..256)",
                                    indices.channels, palette.size()));
  }
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(indices.width);
  png.height = static_cast<png_uint_32>(indices.height);
  png.format = PNG_FORMAT_RGB_COLORMAP;
  png.colormap_entries = static_cast<png_uint_32>(palette.size());
  png_alloc_size_t size = 0;
  std::string out;
  if (png_image_write_get_memory_size(png, size, 0, indices.pixels.data(), 0, palette.data())) {
    out.resize(size);
    if (png_image_write_to_memory(&png, out.data(), &size, 0, indices.pixels.data(), 0, palette.data())) {
      out.resize(size);
      return out;
    }
  }
  std::string message = png.message;
  png_image_free(&png);
  throw InternalError("libpng: cannot encode: " + message);
}

std::string encode_jpeg(const Image& image, int quality) {
  if (image.channels != 1 && image.channels != 3) {
    throw InternalError(fmt::format("encode_jpeg: {} channels (expected 1 or 3)", image.channels));
  }
  jpeg_compress_struct cinfo{};
  JpegError error{};
  cinfo.err = jpeg_std_error(&error.mgr);
  error.mgr.error_exit = &jpeg_on_error;
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  struct Guard {
    jpeg_compress_struct* cinfo;
    unsigned char** buffer;
    ~Guard() {
      jpeg_destroy_compress(cinfo);
      std::free(*buffer);
    }
  } guard{&cinfo, &buffer};
  if (!jpeg_encode_core(&cinfo, &error, &image, quality, &buffer, &size)) {
    throw InternalError(std::string("libjpeg: cannot encode: ") + error.message);
  }
  return std::string(reinterpret_cast<const char*>(buffer), size);
}

Image read_image(const std::string& path, int channels) {
  InputFile file(path);
  std::vector<uint8_t> bytes(file.size());
  file.read(0, bytes.data(), bytes.size());
  Image image = decode_image(bytes.data(), bytes.size(), path);
  return channels == 0 ? image : convert_channels(image, channels);
}

// PIL: L = (299 R + 587 G + 114 B) / 1000 in 16-bit fixed point (Convert.c, L24); "RGB" drops alpha and
// replicates L.
Image convert_channels(const Image& image, int channels) {
  if (channels == image.channels) return image;
  if ((channels != 1 && channels != 3) || image.channels < 1 || image.channels > 4) {
    throw InputError(fmt::format("cannot convert a {}-channel image to {} channels (only to 1 or 3)",
                                 image.channels, channels));
  }
  Image out(image.height, image.width, channels);
  const size_t pixels = size_t(image.height) * size_t(image.width);
  const size_t in_c = size_t(image.channels);
  const bool in_color = image.channels >= 3;
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* s = image.pixels.data() + i * in_c;
    uint8_t* d = out.pixels.data() + i * size_t(channels);
    if (channels == 3) {
      d[0] = s[0];
      d[1] = in_color ? s[1] : s[0];
      d[2] = in_color ? s[2] : s[0];
    } else {
      d[0] =
          in_color ? static_cast<uint8_t>((s[0] * 19595 + s[1] * 38470 + s[2] * 7471 + 0x8000) >> 16) : s[0];
    }
  }
  return out;
}

}  // namespace resnet
