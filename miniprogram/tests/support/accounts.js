/** A trainee registered and bound to the shim's WeChat, through the mini-program's own api/auth. */
'use strict';
const { idNumber, phone, smsCode } = require('./server');

const PASSWORD = 'Mini-Test-2026!';

async function newTrainee(overrides = {}) {
  const auth = require('../../api/auth');
  const login = await auth.loginWithWeChat();
  if (login.kind !== 'unbound') {
    throw new Error('this WeChat is already bound');
  }
  const person = { name: '测试学员', id_number: idNumber(), phone: phone(), email: 'trainee@example.com', password: PASSWORD, ...overrides };
  await auth.sendSmsCode(person.phone, 'register');
  const sms_code = await smsCode(person.phone, 'register');
  await auth.registerTrainee({ ...person, sms_code });
  await auth.bindWeChat({ bind_ticket: login.bindTicket, account: person.id_number, password: PASSWORD });
  return person;
}

module.exports = { newTrainee, PASSWORD };
