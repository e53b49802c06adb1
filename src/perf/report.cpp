#include "perf/report.hpp"

#include <algorithm>
#include <iomanip>

namespace wf::perf {

std::string Table::str() const {
  std::vector<std::size_t> width(header_.size(), 0);
  auto widen = [&](const std::vector<std::string>& row) {
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  };
  widen(header_);
  for (const auto& row : rows_) widen(row);
  std::ostringstream out;
  auto print = [&](const std::vector<std::string>& row) {
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) {
      // First column left-aligned (names), the others right-aligned (numbers).
      if (c == 0)
        out << std::left << std::setw(static_cast<int>(width[c])) << row[c];
      else
        out << "  " << std::right << std::setw(static_cast<int>(width[c])) << row[c];
    }
    out << '\n';
  };
  print(header_);
  std::size_t total = 0;
  for (auto w : width) total += w + 2;
  out << std::string(total > 2 ? total - 2 : 0, '-') << '\n';
  for (const auto& row : rows_) print(row);
  return out.str();
}

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

PerformanceLine& PerformanceLine::add(const std::string& key, const std::string& value) {
  text_ << ' ' << key << '=' << value;
  return *this;
}

PerformanceLine& PerformanceLine::add(const std::string& key, double value, int digits) {
  return add(key, fixed(value, digits));
}

}  // namespace wf::perf
