// qkern/status.hpp: errors are values. Every fallible call returns a Status;
// no exception crosses the API, so hosts built with -fno-exceptions link and
// run unchanged. A failed call writes nothing to its outputs.
#ifndef QKERN_STATUS_HPP_
#define QKERN_STATUS_HPP_

#include <string>
#include <utility>

// The shared library exports what this header declares (cmake/qkern.map).
#pragma GCC visibility push(default)
namespace qkern {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,  // a null pointer, a bad enum, a shape that does not fit
  kOutOfRange = 2,       // a value outside its allowed range (scale, zero point, bits, axis)
  kOverflow = 3,         // a size whose element or byte count does not fit
  kUnsupported = 4,      // valid, but beyond what this configuration supports
  kOutOfMemory = 5,
  kInternal = 6,
};

// "ok", "invalid_argument", "out_of_range", ...
const char* status_code_name(StatusCode code);

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // Names the bad argument first, then the reason: "scale[3]: must be finite and > 0 (got -1)".
  const std::string& message() const { return message_; }
  // "out_of_range: scale[3]: must be finite and > 0 (got -1)"
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

}  // namespace qkern
#pragma GCC visibility pop

#endif  // QKERN_STATUS_HPP_
