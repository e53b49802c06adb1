#include "comm/roll_call.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace wf::comm {
namespace {

std::vector<int> ranks_where(const std::vector<RollCallReply>& replies, bool responded, char kind = 0) {
  std::vector<int> ranks;
  for (std::size_t r = 0; r < replies.size(); ++r)
    if (replies[r].responded == responded && (kind == 0 || replies[r].position.kind == kind))
      ranks.push_back(static_cast<int>(r));
  return ranks;
}

}  // namespace

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", seconds);
  return text;
}

std::string RankPosition::encode() const {
  char head[40];
  std::snprintf(head, sizeof head, "%c %.3f ", static_cast<char>(kind), seconds);
  return head + text;
}

RankPosition RankPosition::decode(const std::string& line) {
  RankPosition p;
  const std::size_t space = line.find(' ', 2);
  const char kind = line.empty() ? '?' : line[0];
  if ((kind != computing && kind != waiting && kind != failing) || line.size() < 3 || space == std::string::npos) {
    p.text = line;
    return p;
  }
  p.kind = static_cast<Kind>(kind);
  p.seconds = std::strtod(line.c_str() + 2, nullptr);
  p.text = line.substr(space + 1);
  return p;
}

std::string RankPosition::describe() const {
  switch (kind) {
    case waiting: return "waiting in '" + text + "' for " + seconds_text(seconds) + " s";
    case failing: return "failed: " + text;
    case computing: break;
  }
  if (text.empty()) return "computing";
  return "computing (last wait '" + text + "' ended " + seconds_text(seconds) + " s ago)";
}

std::string rank_list(const std::vector<int>& ranks) {
  std::string text = ranks.size() == 1 ? "rank " : "ranks ";
  const std::size_t shown = ranks.size() > 16 ? 16 : ranks.size();
  for (std::size_t i = 0; i < shown; ++i) {
    if (i > 0) text += (i + 1 == ranks.size()) ? " and " : ", ";
    text += std::to_string(ranks[i]);
  }
  if (shown < ranks.size()) text += " and " + std::to_string(ranks.size() - shown) + " more";
  return text;
}

std::string compose_verdict(int me, const std::string& what, double roll_call_seconds,
                            const std::vector<RollCallReply>& replies) {
  const std::vector<int> silent = ranks_where(replies, false);
  if (!silent.empty())
    return rank_list(silent) + (silent.size() == 1 ? " does" : " do") + " not respond (stopped, hung or gone: no answer to a roll call within " +
           seconds_text(roll_call_seconds) + " s); " + what;
  const std::vector<int> failed = ranks_where(replies, true, RankPosition::failing);
  if (!failed.empty())
    return "rank " + std::to_string(failed.front()) + ": " + replies[static_cast<std::size_t>(failed.front())].position.text;
  // Every rank answers: the ones not waiting never arrived (still computing, or stuck in a loop);
  // among the waiting ones, the longest wait is nearest to the cause.
  const std::vector<int> absent = ranks_where(replies, true, RankPosition::computing);
  std::vector<int> others = absent;
  std::vector<int> waiting = ranks_where(replies, true, RankPosition::waiting);
  std::stable_sort(waiting.begin(), waiting.end(), [&](int a, int b) {
    return replies[static_cast<std::size_t>(a)].position.seconds > replies[static_cast<std::size_t>(b)].position.seconds;
  });
  for (const int r : waiting)
    if (r != me) others.push_back(r);
  std::string line = what + "; every rank responds";
  if (!absent.empty()) line += ", but " + rank_list(absent) + (absent.size() == 1 ? " has" : " have") + " not arrived";
  line += ":";
  for (std::size_t i = 0; i < others.size() && i < 8; ++i)
    line += (i ? "; " : " ") + std::string("rank ") + std::to_string(others[i]) + " " +
            replies[static_cast<std::size_t>(others[i])].position.describe();
  if (others.size() > 8) line += "; ...";
  return line;
}

int choose_reporter(int me, const std::vector<RollCallReply>& replies) {
  for (std::size_t r = 0; r < replies.size(); ++r)
    if (replies[r].responded || static_cast<int>(r) == me) return static_cast<int>(r);
  return me;
}

}  // namespace wf::comm
