/** The mini-program: trainees log in with WeChat, take their ID photo, enroll. */
import { purgeExpiredBundles, wxStorage } from './utils/scan-storage';

App({
  globalData: {},
  onLaunch() {
    // Pages check the login themselves (pages/login is the entry when there is no token).
    purgeExpiredBundles(wxStorage); // the scanner's offline bundles hold personal data: gone once expired
  },
});
