// Charts of a training run, drawn with Cairo: curves.png (loss and accuracy per epoch) and the confusion
// matrix of `resnet eval --confusion-png`. PNG bytes are made in memory and written atomically.
#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "resnet/train.h"
#include "train/cairo_png.h"

namespace resnet {
namespace {

struct Color {
  double r, g, b;
};
constexpr Color kTrainColor{0.122, 0.467, 0.706};  // matplotlib's first two colours
constexpr Color kTestColor{1.000, 0.498, 0.055};
constexpr Color kMiouColor{0.173, 0.627, 0.173};
// The degradation figure's depths: matplotlib's blue, orange, green, red, purple, brown.
constexpr Color kDegradationPalette[] = {{0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173},
                                         {0.839, 0.153, 0.157}, {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}};
constexpr Color kInk{0.15, 0.15, 0.15};
constexpr Color kGrid{0.88, 0.88, 0.88};
constexpr const char* kFont = "DejaVu Sans";

struct Rect {
  double x, y, w, h;
};

struct Surface {
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface;
  std::unique_ptr<cairo_t, decltype(&cairo_destroy)> cr;

  Surface(int width, int height)
      : surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height), cairo_surface_destroy),
        cr(cairo_create(surface.get()), cairo_destroy) {
    cairo_set_source_rgb(cr.get(), 1, 1, 1);
    cairo_paint(cr.get());
  }

  // Encodes the PNG in memory and writes it atomically; throws InputError naming `path` on failure.
  void save(const std::string& path) { write_cairo_png(surface.get(), path); }
};

void set_color(cairo_t* cr, Color c) {
  cairo_set_source_rgb(cr, c.r, c.g, c.b);
}

void set_font(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

double text_width(cairo_t* cr, const std::string& text) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, text.c_str(), &e);
  return e.x_advance;
}

// Text with its anchor at (x, y): ax, ay in [0, 1] pick the point of the text's box (0.5, 0.5 = centre);
// angle in radians, counter-clockwise.
void draw_text(cairo_t* cr, const std::string& text, double x, double y, double ax, double ay,
               double angle = 0.0) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, text.c_str(), &e);
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, -angle);
  cairo_move_to(cr, -ax * e.x_advance, -ay * (fe.ascent + fe.descent) + fe.ascent);
  cairo_show_text(cr, text.c_str());
  cairo_restore(cr);
}

// Round tick values covering [lo, hi], about `target` of them: steps of 1, 2 or 5 times a power of ten.
std::vector<double> nice_ticks(double lo, double hi, int target, double min_step = 0.0) {
  const double span = std::max(hi - lo, 1e-12);
  const double raw = span / std::max(1, target);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * power;
    if (step >= raw) break;
  }
  step = std::max(step, min_step);
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

std::string tick_label(double value, double step) {
  if (step >= 1.0) return fmt::format("{:.0f}", value);
  const int decimals = std::min(6, int(std::ceil(-std::log10(step) - 1e-9)));
  return fmt::format("{:.{}f}", value, decimals);
}

struct Series {
  std::string name;  // "" = not in the legend
  Color color;
  std::vector<double> x, y;
  double line_width = 2.2;
  double marker_radius = 3.5;
};

// Expands [lo, hi] to round values with a little room, and to a non-empty span.
std::pair<double, double> padded_range(double lo, double hi) {
  if (!(hi > lo)) {
    const double pad = std::max(std::abs(lo) * 0.1, 0.5);
    return {lo - pad, hi + pad};
  }
  const double pad = (hi - lo) * 0.06;
  return {lo - pad, hi + pad};
}

// One chart: frame, grid, ticks, axis labels, the series as lines with markers, and a legend.
void draw_panel(cairo_t* cr, const Rect& area, const std::string& title, const std::string& x_label,
                const std::string& y_label, const std::vector<Series>& series,
                std::pair<double, double> x_range, std::pair<double, double> y_range, bool legend_top) {
  const Rect plot{area.x + 72, area.y + 36, area.w - 92, area.h - 88};
  const auto [x0, x1] = x_range;
  const auto [y0, y1] = y_range;
  auto px = [&](double x) { return plot.x + (x - x0) / (x1 - x0) * plot.w; };
  auto py = [&](double y) { return plot.y + plot.h - (y - y0) / (y1 - y0) * plot.h; };

  set_font(cr, 17, true);
  set_color(cr, kInk);
  draw_text(cr, title, plot.x + plot.w / 2, area.y + 8, 0.5, 0.0);

  // Grid and tick labels.
  set_font(cr, 12);
  cairo_set_line_width(cr, 1.0);
  const std::vector<double> yt = nice_ticks(y0, y1, 6);
  const double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1.0;
  for (double t : yt) {
    set_color(cr, kGrid);
    cairo_move_to(cr, plot.x, std::round(py(t)) + 0.5);
    cairo_line_to(cr, plot.x + plot.w, std::round(py(t)) + 0.5);
    cairo_stroke(cr);
    set_color(cr, kInk);
    draw_text(cr, tick_label(t, ystep), plot.x - 8, py(t), 1.0, 0.5);
  }
  const std::vector<double> xt = nice_ticks(x0, x1, 8, 1.0);
  for (double t : xt) {
    set_color(cr, kGrid);
    cairo_move_to(cr, std::round(px(t)) + 0.5, plot.y);
    cairo_line_to(cr, std::round(px(t)) + 0.5, plot.y + plot.h);
    cairo_stroke(cr);
    set_color(cr, kInk);
    draw_text(cr, tick_label(t, 1.0), px(t), plot.y + plot.h + 6, 0.5, 0.0);
  }
  set_color(cr, kInk);
  cairo_rectangle(cr, plot.x + 0.5, plot.y + 0.5, plot.w, plot.h);
  cairo_stroke(cr);

  set_font(cr, 14);
  draw_text(cr, x_label, plot.x + plot.w / 2, plot.y + plot.h + 28, 0.5, 0.0);
  draw_text(cr, y_label, area.x + 12, plot.y + plot.h / 2, 0.5, 0.0, M_PI / 2);

  // The series, clipped to the plot.
  cairo_save(cr);
  cairo_rectangle(cr, plot.x, plot.y, plot.w, plot.h);
  cairo_clip(cr);
  for (const Series& s : series) {
    set_color(cr, s.color);
    cairo_set_line_width(cr, s.line_width);
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (i == 0) {
        cairo_move_to(cr, px(s.x[i]), py(s.y[i]));
      } else {
        cairo_line_to(cr, px(s.x[i]), py(s.y[i]));
      }
    }
    cairo_stroke(cr);
    for (size_t i = 0; i < s.x.size(); ++i) {
      cairo_arc(cr, px(s.x[i]), py(s.y[i]), s.marker_radius, 0, 2 * M_PI);
      cairo_fill(cr);
    }
  }
  cairo_restore(cr);

  // Legend box in a corner (top right for falling curves, bottom right for rising ones); series without a
  // name are left out.
  std::vector<const Series*> named;
  for (const Series& s : series) {
    if (!s.name.empty()) named.push_back(&s);
  }
  if (named.empty()) return;
  set_font(cr, 13);
  double width = 0;
  for (const Series* s : named) width = std::max(width, text_width(cr, s->name));
  const double row = 20, box_w = width + 48, box_h = row * double(named.size()) + 10;
  const double bx = plot.x + plot.w - box_w - 10;
  const double by = legend_top ? plot.y + 10 : plot.y + plot.h - box_h - 10;
  cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
  cairo_rectangle(cr, bx, by, box_w, box_h);
  cairo_fill_preserve(cr);
  set_color(cr, kGrid);
  cairo_set_line_width(cr, 1.0);
  cairo_stroke(cr);
  for (size_t i = 0; i < named.size(); ++i) {
    const double cy = by + 5 + row * (double(i) + 0.5);
    set_color(cr, named[i]->color);
    cairo_set_line_width(cr, named[i]->line_width);
    cairo_move_to(cr, bx + 8, cy);
    cairo_line_to(cr, bx + 32, cy);
    cairo_stroke(cr);
    cairo_arc(cr, bx + 20, cy, named[i]->marker_radius, 0, 2 * M_PI);
    cairo_fill(cr);
    set_color(cr, kInk);
    draw_text(cr, named[i]->name, bx + 40, cy, 0.0, 0.5);
  }
}

std::pair<double, double> value_range(const std::vector<Series>& series) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (const Series& s : series) {
    for (double v : s.y) {
      if (!std::isfinite(v)) continue;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  if (!std::isfinite(lo)) return {0.0, 1.0};
  return {lo, hi};
}

// The epochs first..last on the x axis, with a little room on each side.
std::pair<double, double> epoch_range(double first, double last) {
  return last > first ? std::pair{first - 0.03 * (last - first), last + 0.03 * (last - first)}
                      : std::pair{first - 0.5, last + 0.5};
}

// Accuracies (%) lo..hi with room, within [0, 100] (a little above 100 when the curves reach it).
std::pair<double, double> accuracy_range(double lo, double hi) {
  auto range = padded_range(lo, hi);
  range.first = std::max(range.first, 0.0);
  range.second = std::min(range.second, 100.0 + (hi >= 99.5 ? 1.0 : 0.0));
  return range;
}

// Losses 0..hi with room (below 0 only if a loss is).
std::pair<double, double> loss_range(double lo, double hi) {
  auto range = padded_range(std::min(0.0, lo), hi);
  range.first = std::max(range.first, std::min(0.0, lo));
  return range;
}

// One panel of a two-panel chart (per epoch on the x axis).
struct Panel {
  std::string title, y_label;
  std::vector<Series> series;
  std::pair<double, double> y_range;
  bool legend_top = false;
};

// A 1280x560 PNG: the title on top, `left` and `right` side by side over the same epochs.
void write_two_panels(const std::string& path, const std::string& title, std::pair<double, double> x_range,
                      const Panel& left, const Panel& right) {
  const int width = 1280, height = 560;
  Surface s(width, height);
  cairo_t* cr = s.cr.get();
  set_font(cr, 20, true);
  set_color(cr, kInk);
  draw_text(cr, title, width / 2.0, 14, 0.5, 0.0);
  const Rect left_area{10, 52, width / 2.0 - 10, height - 62.0};
  const Rect right_area{width / 2.0, 52, width / 2.0 - 10, height - 62.0};
  for (const auto& [area, panel] : {std::pair{left_area, &left}, std::pair{right_area, &right}}) {
    draw_panel(cr, area, panel->title, "epoch", panel->y_label, panel->series, x_range, panel->y_range,
               panel->legend_top);
  }
  s.save(path);
}

}  // namespace

void write_curves_png(const std::vector<EpochMetrics>& history, const std::string& path,
                      const std::string& title) {
  Series train_loss{"train", kTrainColor, {}, {}}, test_loss{"test", kTestColor, {}, {}};
  Series train_acc{"train", kTrainColor, {}, {}}, test_acc{"test", kTestColor, {}, {}};
  // Segmentation: the accuracies are pixel accuracies, and the test mIoU joins them.
  const bool segmentation = !history.empty() && history.front().test_miou.has_value();
  if (segmentation) {
    train_acc.name = "train pixel acc";
    test_acc.name = "test pixel acc";
  }
  Series test_miou{"test mIoU", kMiouColor, {}, {}};
  for (const EpochMetrics& m : history) {
    const double e = double(m.epoch);
    for (Series* s : {&train_loss, &test_loss, &train_acc, &test_acc}) s->x.push_back(e);
    train_loss.y.push_back(m.train_loss);
    test_loss.y.push_back(m.test_loss);
    train_acc.y.push_back(100.0 * m.train_acc);
    test_acc.y.push_back(100.0 * m.test_acc);
    if (m.test_miou) {
      test_miou.x.push_back(e);
      test_miou.y.push_back(100.0 * *m.test_miou);
    }
  }
  const double first = history.empty() ? 1.0 : double(history.front().epoch);
  const double last = history.empty() ? 1.0 : double(history.back().epoch);
  const std::pair<double, double> x_range = epoch_range(first, last);
  const auto [loss_lo, loss_hi] = value_range({train_loss, test_loss});
  if (segmentation) {
    const auto [lo, hi] = value_range({train_acc, test_acc, test_miou});
    write_two_panels(path, title, x_range,
                     {"Loss", "loss", {train_loss, test_loss}, loss_range(loss_lo, loss_hi), true},
                     {"mIoU and pixel accuracy",
                      "percent",
                      {test_miou, train_acc, test_acc},
                      accuracy_range(lo, hi),
                      false});
    return;
  }
  // --ema: the averaged weights' test loss and accuracy join them.
  std::vector<Series> losses = {train_loss, test_loss}, accuracies = {train_acc, test_acc};
  Series ema_loss{"test (EMA)", kMiouColor, {}, {}}, ema_acc{"test (EMA)", kMiouColor, {}, {}};
  for (const EpochMetrics& m : history) {
    if (!m.ema_test_acc) continue;
    ema_loss.x.push_back(double(m.epoch));
    ema_loss.y.push_back(m.ema_test_loss.value_or(0.0));
    ema_acc.x.push_back(double(m.epoch));
    ema_acc.y.push_back(100.0 * *m.ema_test_acc);
  }
  if (!ema_acc.x.empty()) {
    losses.push_back(ema_loss);
    accuracies.push_back(ema_acc);
  }
  const auto [acc_lo, acc_hi] = value_range(accuracies);
  const auto [all_loss_lo, all_loss_hi] = value_range(losses);

  write_two_panels(path, title, x_range,
                   {"Loss", "cross-entropy loss", losses, loss_range(all_loss_lo, all_loss_hi), true},
                   {"Accuracy", "top-1 accuracy (%)", accuracies, accuracy_range(acc_lo, acc_hi), false});
}

void write_degradation_png(const std::vector<NamedHistory>& plain, const std::vector<NamedHistory>& residual,
                           const std::string& path, const std::string& title) {
  // One colour per depth (the i-th run of each side), the same on both sides.
  std::vector<Series> left, right;
  double first = std::numeric_limits<double>::infinity(), last = -first;
  for (const auto& [runs, series] : {std::pair{&plain, &left}, std::pair{&residual, &right}}) {
    for (size_t r = 0; r < runs->size(); ++r) {
      const Color color = kDegradationPalette[r % std::size(kDegradationPalette)];
      const NamedHistory& run = (*runs)[r];
      Series train{"", color, {}, {}, 1.2, 1.8}, test{run.name, color, {}, {}, 3.2, 3.0};
      for (const EpochMetrics& m : run.history) {
        first = std::min(first, double(m.epoch));
        last = std::max(last, double(m.epoch));
        train.x.push_back(double(m.epoch));
        train.y.push_back(100.0 * (1.0 - m.train_acc));
        test.x.push_back(double(m.epoch));
        test.y.push_back(100.0 * (1.0 - m.test_acc));
      }
      series->push_back(std::move(train));
      series->push_back(std::move(test));
    }
  }
  if (!std::isfinite(first)) first = last = 1.0;
  // One error axis for both panels, so that their curves compare at a glance.
  std::vector<Series> all = left;
  all.insert(all.end(), right.begin(), right.end());
  const auto [lo, hi] = value_range(all);
  const std::pair<double, double> range = accuracy_range(std::min(lo, 0.0), hi);
  write_two_panels(path, title, epoch_range(first, last), {"Plain networks", "error (%)", left, range, true},
                   {"ResNets", "error (%)", right, range, true});
}

void write_runs_png(const std::vector<NamedHistory>& runs, const std::string& path,
                    const std::string& title) {
  static constexpr Color kPalette[] = {kTrainColor,           kTestColor,
                                       {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157},
                                       {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}};
  // Segmentation runs (every history has test_miou) compare their test mIoU; otherwise top-1 accuracy.
  const bool segmentation =
      !runs.empty() && std::all_of(runs.begin(), runs.end(), [](const NamedHistory& run) {
        return !run.history.empty() && run.history.front().test_miou.has_value();
      });
  std::vector<Series> test_acc, train_loss;
  double first = std::numeric_limits<double>::infinity(), last = -first;
  for (size_t r = 0; r < runs.size(); ++r) {
    const Color color = kPalette[r % std::size(kPalette)];
    test_acc.push_back({runs[r].name, color, {}, {}});
    train_loss.push_back({runs[r].name, color, {}, {}});
    for (const EpochMetrics& m : runs[r].history) {
      first = std::min(first, double(m.epoch));
      last = std::max(last, double(m.epoch));
      test_acc.back().x.push_back(double(m.epoch));
      test_acc.back().y.push_back(100.0 * (segmentation ? m.test_miou.value_or(0.0) : m.test_acc));
      train_loss.back().x.push_back(double(m.epoch));
      train_loss.back().y.push_back(m.train_loss);
    }
  }
  if (!std::isfinite(first)) first = last = 1.0;
  const auto [acc_lo, acc_hi] = value_range(test_acc);
  const auto [loss_lo, loss_hi] = value_range(train_loss);

  write_two_panels(
      path, title, epoch_range(first, last),
      {segmentation ? "Test mIoU" : "Test accuracy", segmentation ? "mIoU (%)" : "top-1 accuracy (%)",
       test_acc, accuracy_range(acc_lo, acc_hi), false},
      {"Training loss", segmentation ? "training loss" : "cross-entropy loss", train_loss,
       loss_range(loss_lo, loss_hi), true});
}

void write_confusion_png(const EvalResult& result, const std::string& path, const std::string& title) {
  const size_t n = result.class_names.size();
  const double cell = n <= 10 ? 56.0 : n <= 20 ? 36.0 : std::max(7.0, 800.0 / double(n));
  const bool counts = cell >= 28;
  const bool names = cell >= 10;
  const double label_font = std::min(13.0, cell * 0.8);

  // Room for the class names: measure them first.
  Surface probe(8, 8);
  set_font(probe.cr.get(), label_font);
  double label_w = 0;
  if (names) {
    for (const std::string& name : result.class_names)
      label_w = std::max(label_w, text_width(probe.cr.get(), name));
  }
  const double left = 44 + label_w + 10, top = 70;
  const double grid = cell * double(n);
  const int width = int(left + grid + 40), height = int(top + grid + label_w + 70);
  Surface s(std::max(width, 480), height);
  cairo_t* cr = s.cr.get();

  set_font(cr, 18, true);
  set_color(cr, kInk);
  draw_text(cr, title, std::max(width, 480) / 2.0, 12, 0.5, 0.0);
  set_font(cr, 12);
  draw_text(cr, "colour: share of each true class's images; numbers: image counts",
            std::max(width, 480) / 2.0, 40, 0.5, 0.0);

  for (size_t t = 0; t < n; ++t) {
    const double total = double(std::max<int64_t>(1, result.class_count(t)));
    for (size_t p = 0; p < n; ++p) {
      const int64_t count = result.confusion[t][p];
      const double share = double(count) / total;
      // White to dark blue.
      const Color c{1.0 - share * (1.0 - 0.03), 1.0 - share * (1.0 - 0.19), 1.0 - share * (1.0 - 0.42)};
      set_color(cr, c);
      const double x = left + cell * double(p), y = top + cell * double(t);
      cairo_rectangle(cr, x, y, cell, cell);
      cairo_fill(cr);
      if (counts && count > 0) {
        set_font(cr, std::min(13.0, cell * 0.3), p == t);
        set_color(cr, share > 0.5 ? Color{1, 1, 1} : kInk);
        draw_text(cr, std::to_string(count), x + cell / 2, y + cell / 2, 0.5, 0.5);
      }
    }
  }
  if (cell >= 10) {  // thin lines between the cells
    set_color(cr, kGrid);
    cairo_set_line_width(cr, 1.0);
    for (size_t i = 1; i < n; ++i) {
      const double at = std::round(cell * double(i)) + 0.5;
      cairo_move_to(cr, left + at, top);
      cairo_line_to(cr, left + at, top + grid);
      cairo_move_to(cr, left, top + at);
      cairo_line_to(cr, left + grid, top + at);
    }
    cairo_stroke(cr);
  }
  set_color(cr, kInk);
  cairo_set_line_width(cr, 1.0);
  cairo_rectangle(cr, left + 0.5, top + 0.5, grid, grid);
  cairo_stroke(cr);

  if (names) {
    set_font(cr, label_font);
    for (size_t i = 0; i < n; ++i) {
      const double centre = cell * (double(i) + 0.5);
      draw_text(cr, result.class_names[i], left - 6, top + centre, 1.0, 0.5);
      draw_text(cr, result.class_names[i], left + centre, top + grid + 6, 1.0, 0.5, M_PI / 2);
    }
  }
  set_font(cr, 14, true);
  draw_text(cr, "predicted class", left + grid / 2, top + grid + label_w + 24, 0.5, 0.0);
  draw_text(cr, "true class", 14, top + grid / 2, 0.5, 0.0, M_PI / 2);
  s.save(path);
}

}  // namespace resnet
