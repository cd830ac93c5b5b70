/** The mini-program: trainees log in with WeChat, take their ID photo, enroll. */
App({
  globalData: {},
  onLaunch() {
    // Pages check the login themselves (pages/login is the entry when there is no token).
  },
});
