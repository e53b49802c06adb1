// Report helpers: aligned tables, fixed-point numbers, the greppable PERFORMANCE line.
// (Reductions over ranks for reports are comm/reductions.hpp.)
#pragma once

#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace wf::perf {

/// \brief A plain-text table with a header row, printed with aligned columns.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  /// \brief Adds a row (as many cells as the header).
  void add_row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  /// \brief The table as text, one line per row, columns separated by two spaces.
  std::string str() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

/// \brief Fixed-point text of value with `digits` decimals.
std::string fixed(double value, int digits);

/// \brief Builds "PERFORMANCE key=value key=value ..." for grep and scripts.
class PerformanceLine {
 public:
  PerformanceLine& add(const std::string& key, const std::string& value);
  PerformanceLine& add(const std::string& key, double value, int digits = 3);
  std::string str() const { return "PERFORMANCE" + text_.str(); }

 private:
  std::ostringstream text_;
};

}  // namespace wf::perf
