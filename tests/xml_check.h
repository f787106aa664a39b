// A strict XML well-formedness check for the SVGs the tools write (ours and Graphviz's): one root
// element, tags balanced, attributes quoted and unique, '<' and '&' only as markup or entities.
// Also collects each element's text, so tests can look for what a picture says.
#pragma once
#include <cctype>
#include <map>
#include <string>
#include <vector>

namespace fg::testing {

struct XmlElement {
  std::string name, text;  // text: the element's own character data, entities decoded
  std::map<std::string, std::string> attrs;
};

struct XmlCheck {
  std::string error;  // empty when well-formed
  std::vector<XmlElement> elements;  // in document order
  std::vector<std::string> texts_of(const std::string& element) const {
    std::vector<std::string> out;
    for (const auto& e : elements)
      if (e.name == element) out.push_back(e.text);
    return out;
  }
};

inline XmlCheck check_xml(const std::string& s) {
  XmlCheck r;
  size_t i = 0;
  std::vector<size_t> open;  // indices into r.elements
  bool root_seen = false, root_closed = false;
  auto fail = [&](const std::string& what) {
    if (r.error.empty()) r.error = what + " at offset " + std::to_string(i);
  };
  auto is_name_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ':' ||
           static_cast<unsigned char>(c) >= 0x80;
  };
  auto read_name = [&]() {
    const size_t start = i;
    while (i < s.size() && is_name_char(s[i])) ++i;
    return s.substr(start, i - start);
  };
  auto skip_space = [&]() {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  // Decodes character data up to `end`, checking every '&'.
  auto decode = [&](size_t from, size_t end, std::string* out) {
    for (size_t k = from; k < end; ++k) {
      if (s[k] == '<') {
        i = k;
        fail("raw '<'");
        return;
      }
      if (s[k] != '&') {
        *out += s[k];
        continue;
      }
      const size_t semi = s.find(';', k);
      if (semi == std::string::npos || semi > end || semi - k > 10) {
        i = k;
        fail("bare '&'");
        return;
      }
      const std::string ent = s.substr(k + 1, semi - k - 1);
      if (ent == "amp") *out += '&';
      else if (ent == "lt") *out += '<';
      else if (ent == "gt") *out += '>';
      else if (ent == "quot") *out += '"';
      else if (ent == "apos") *out += '\'';
      else if (ent.size() > 1 && ent[0] == '#') *out += '?';
      else {
        i = k;
        fail("unknown entity &" + ent + ";");
        return;
      }
      k = semi;
    }
  };
  while (i < s.size() && r.error.empty()) {
    if (s[i] != '<') {
      const size_t next = s.find('<', i);
      const size_t end = next == std::string::npos ? s.size() : next;
      std::string text;
      decode(i, end, &text);
      if (open.empty()) {
        for (char c : text)
          if (!std::isspace(static_cast<unsigned char>(c))) {
            fail("text outside the root element");
            break;
          }
      } else {
        r.elements[open.back()].text += text;
      }
      i = end;
      continue;
    }
    if (s.compare(i, 4, "<!--") == 0) {
      const size_t end = s.find("-->", i + 4);
      if (end == std::string::npos) return fail("unterminated comment"), r;
      i = end + 3;
    } else if (s.compare(i, 9, "<![CDATA[") == 0) {
      const size_t end = s.find("]]>", i + 9);
      if (end == std::string::npos || open.empty()) return fail("bad CDATA"), r;
      r.elements[open.back()].text += s.substr(i + 9, end - i - 9);
      i = end + 3;
    } else if (s.compare(i, 2, "<?") == 0) {
      const size_t end = s.find("?>", i + 2);
      if (end == std::string::npos) return fail("unterminated processing instruction"), r;
      i = end + 2;
    } else if (s.compare(i, 9, "<!DOCTYPE") == 0) {
      if (root_seen) return fail("DOCTYPE after the root"), r;
      const size_t end = s.find('>', i);
      if (end == std::string::npos) return fail("unterminated DOCTYPE"), r;
      i = end + 1;
    } else if (s.compare(i, 2, "</") == 0) {
      i += 2;
      const std::string name = read_name();
      skip_space();
      if (i >= s.size() || s[i] != '>') return fail("bad end tag"), r;
      ++i;
      if (open.empty() || r.elements[open.back()].name != name) return fail("</" + name + "> closes nothing open"), r;
      open.pop_back();
      if (open.empty()) root_closed = true;
    } else {
      ++i;
      if (root_closed) return fail("a second root element"), r;
      XmlElement e;
      e.name = read_name();
      if (e.name.empty()) return fail("bad start tag"), r;
      bool self_closing = false;
      for (;;) {
        skip_space();
        if (i >= s.size()) return fail("unterminated start tag"), r;
        if (s[i] == '>') {
          ++i;
          break;
        }
        if (s.compare(i, 2, "/>") == 0) {
          i += 2;
          self_closing = true;
          break;
        }
        const std::string attr = read_name();
        if (attr.empty()) return fail("bad attribute in <" + e.name + ">"), r;
        skip_space();
        if (i >= s.size() || s[i] != '=') return fail("attribute " + attr + " without a value"), r;
        ++i;
        skip_space();
        if (i >= s.size() || (s[i] != '"' && s[i] != '\'')) return fail("unquoted attribute " + attr), r;
        const char q = s[i++];
        const size_t end = s.find(q, i);
        if (end == std::string::npos) return fail("unterminated attribute " + attr), r;
        std::string value;
        decode(i, end, &value);
        if (!r.error.empty()) return r;
        if (!e.attrs.emplace(attr, value).second) return fail("duplicate attribute " + attr), r;
        i = end + 1;
      }
      root_seen = true;
      r.elements.push_back(std::move(e));
      if (!self_closing) open.push_back(r.elements.size() - 1);
      else if (open.empty()) root_closed = true;
    }
  }
  if (r.error.empty() && !root_seen) fail("no root element");
  if (r.error.empty() && !open.empty()) fail("<" + r.elements[open.back()].name + "> is never closed");
  return r;
}

}  // namespace fg::testing
