// tests/support/expect_error.hpp — checking that a call throws fastconv::Error of the expected
// kind with a message that names the argument and the bad value.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <string>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace fctest {

using Words = std::vector<std::string>;

inline std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return text;
}

inline const char* kind_name(fastconv::ErrorKind kind) { return fastconv::error_kind_name(kind); }

// Expects fastconv::Error of `kind` whose message contains every word of `all_of` and at least
// one word of `any_of` (case-insensitive).
template <typename F>
::testing::AssertionResult throws(F&& call, fastconv::ErrorKind kind, const Words& all_of,
                                  const Words& any_of = {}) {
  try {
    call();
  } catch (const fastconv::Error& error) {
    const std::string message = lower(error.what());
    if (error.kind() != kind)
      return ::testing::AssertionFailure() << "kind " << kind_name(error.kind()) << " instead of "
                                           << kind_name(kind) << "; message: " << error.what();
    for (const auto& word : all_of)
      if (message.find(lower(word)) == std::string::npos)
        return ::testing::AssertionFailure() << "message lacks '" << word << "': " << error.what();
    if (!any_of.empty() && std::none_of(any_of.begin(), any_of.end(), [&](const std::string& w) {
          return message.find(lower(w)) != std::string::npos;
        })) {
      auto failure = ::testing::AssertionFailure() << "message lacks all of {";
      for (const auto& w : any_of) failure << " '" << w << "'";
      return failure << " }: " << error.what();
    }
    return ::testing::AssertionSuccess();
  } catch (const std::exception& other) {
    return ::testing::AssertionFailure() << "threw a non-fastconv exception: " << other.what();
  } catch (...) {
    return ::testing::AssertionFailure() << "threw a non-std exception";
  }
  return ::testing::AssertionFailure() << "did not throw";
}

}  // namespace fctest
