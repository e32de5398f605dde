// basin's version, recorded in the files that outlive a build (sweep.json) so
// results can be matched with the code that made them.
#pragma once

namespace basin::apps {

constexpr const char* kBasinVersion = "0.1.0";

}  // namespace basin::apps
