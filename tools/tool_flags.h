// Command-line flags the way TensorFlow's tools take them (absl / python flags): --name=value or
// --name value, and for booleans --name, --name=true|false or --noname. Shared by tools/*.cpp.
//
//   tools::Flags flags("freeze_graph", "Freezes a graph's variables into constants.");
//   std::string input;  bool binary = false;
//   flags.add("input_graph", &input, "GraphDef file");
//   flags.add("input_binary", &binary, "the input is a binary GraphDef");
//   std::vector<std::string> positional = flags.parse(argc, argv);   // exits 2 on a bad flag
#pragma once
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <variant>
#include <vector>

namespace fg::tools {

class Flags {
 public:
  Flags(std::string program, std::string description, std::string positional_usage = "")
      : program_(std::move(program)), description_(std::move(description)), positional_(std::move(positional_usage)) {}

  void add(const std::string& name, std::string* out, const std::string& help) { flags_.push_back({name, out, help}); }
  void add(const std::string& name, bool* out, const std::string& help) { flags_.push_back({name, out, help}); }
  void add(const std::string& name, long long* out, const std::string& help) { flags_.push_back({name, out, help}); }
  // Another spelling of a flag already added.
  void alias(const std::string& name, const std::string& of) {
    for (const Flag& f : flags_)
      if (f.name == of) {
        flags_.push_back({name, f.target, "same as --" + of, of});
        return;
      }
  }

  std::vector<std::string> parse(int argc, char** argv) {
    std::vector<std::string> positional;
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "-h" || arg == "--help" || arg == "-help") {
        std::cout << usage();
        std::exit(0);
      }
      if (arg.size() < 2 || arg[0] != '-' || arg == "-") {
        positional.push_back(arg);
        continue;
      }
      if (arg == "--") {
        for (++i; i < argc; ++i) positional.push_back(argv[i]);
        break;
      }
      arg = arg.substr(arg[1] == '-' ? 2 : 1);
      std::string name = arg, value;
      const auto eq = arg.find('=');
      const bool has_value = eq != std::string::npos;
      if (has_value) {
        name = arg.substr(0, eq);
        value = arg.substr(eq + 1);
      }
      const Flag* f = find(name);
      if (!f && !has_value && name.rfind("no", 0) == 0) {
        const Flag* neg = find(name.substr(2));
        if (neg && std::holds_alternative<bool*>(neg->target)) {
          *std::get<bool*>(neg->target) = false;
          set_.insert(neg->canonical());
          continue;
        }
      }
      if (!f) fail("unknown flag --" + name);
      set_.insert(f->canonical());
      if (auto* b = std::get_if<bool*>(&f->target)) {
        if (!has_value) **b = true;
        else if (value == "true" || value == "1" || value == "True") **b = true;
        else if (value == "false" || value == "0" || value == "False") **b = false;
        else fail("--" + name + " takes true or false, not '" + value + "'");
        continue;
      }
      if (!has_value) {
        if (i + 1 >= argc) fail("--" + name + " needs a value");
        value = argv[++i];
      }
      if (auto* s = std::get_if<std::string*>(&f->target)) {
        **s = value;
      } else {
        char* end = nullptr;
        const long long v = std::strtoll(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0') fail("--" + name + " takes an integer, not '" + value + "'");
        *std::get<long long*>(f->target) = v;
      }
    }
    return positional;
  }

  // Whether the command line gave this flag, in any spelling (its default otherwise).
  bool was_set(const std::string& name) const { return set_.count(name) > 0; }

  std::string usage() const {
    std::string u = "usage: " + program_ + " [flags]" + (positional_.empty() ? "" : " " + positional_) + "\n" +
                    description_ + "\n\nflags:\n";
    for (const Flag& f : flags_) {
      std::string spelling = "  --" + f.name;
      if (!std::holds_alternative<bool*>(f.target)) spelling += "=VALUE";
      if (spelling.size() < 34) spelling.resize(34, ' ');
      else spelling += "\n" + std::string(34, ' ');
      u += spelling + f.help + "\n";
    }
    return u;
  }

  [[noreturn]] void fail(const std::string& message) const {
    std::cerr << program_ << ": " << message << "\n" << usage();
    std::exit(2);
  }

 private:
  struct Flag {
    std::string name;
    std::variant<std::string*, bool*, long long*> target;
    std::string help;
    std::string alias_of;  // for another spelling: the flag it spells
    const std::string& canonical() const { return alias_of.empty() ? name : alias_of; }
  };
  const Flag* find(const std::string& name) const {
    for (const Flag& f : flags_)
      if (f.name == name) return &f;
    return nullptr;
  }
  std::string program_, description_, positional_;
  std::vector<Flag> flags_;
  std::set<std::string> set_;
};

// Splits "a,b,,c" into {"a", "b", "c"}.
inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  return out;
}

}  // namespace fg::tools
