package upstream

import "time"

var timeNow = time.Now
