// The shims are inline functions in include/nimbus_shims.h; SwiftPM needs one source file per C target.
#include "nimbus_shims.h"
