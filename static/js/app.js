/* Bình dân học AI: small enhancements over pages that already work without JavaScript.
   Read-aloud, activity heartbeats, an instant quiz, and submissions that survive a dropped
   connection (the draft stays on the phone and is sent when the network returns). */
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = meta ? meta.getAttribute("content") : "";
  var BANDS = ["Chưa có", "Chưa đạt", "Đạt", "Tốt"];

  function api(method, url, body, isForm) {
    var opts = { method: method, credentials: "same-origin",
      headers: { "X-CSRF-Token": CSRF, "Accept": "application/json" } };
    if (body !== undefined) {
      if (isForm) { opts.body = body; } else {
        opts.headers["Content-Type"] = "application/json";
        opts.body = JSON.stringify(body);
      }
    }
    return fetch(url, opts).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        return { status: res.status, data: data };
      });
    });
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function say(box, text, isError) {
    if (!box) { return; }
    box.hidden = !text;
    box.textContent = text || "";
    box.classList.toggle("error", !!isError);
  }

  function newId() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID().replace(/-/g, ""); }
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }

  /* Read aloud with the phone's own speech synthesis, in a Vietnamese voice when it has one. */
  var reader = document.querySelector("[data-read-aloud]");
  if (reader && "speechSynthesis" in window) {
    reader.hidden = false;
    reader.addEventListener("click", function () {
      if (speechSynthesis.speaking) {
        speechSynthesis.cancel();
        reader.textContent = "Nghe đọc";
        return;
      }
      var source = document.getElementById(reader.getAttribute("data-read-aloud"));
      var utterance = new SpeechSynthesisUtterance(source ? source.innerText : "");
      utterance.lang = "vi-VN";
      utterance.rate = 0.95;
      var voices = speechSynthesis.getVoices().filter(function (v) { return /^vi/i.test(v.lang); });
      if (voices.length) { utterance.voice = voices[0]; }
      utterance.onend = function () { reader.textContent = "Nghe đọc"; };
      speechSynthesis.speak(utterance);
      reader.textContent = "Dừng đọc";
    });
  }

  /* Heartbeats: only while the page is visible and the learner did something in the last
     minute. The server measures the time between beats itself and caps it. */
  var lessonId = document.body.getAttribute("data-lesson");
  if (lessonId) {
    var lastInput = Date.now();
    ["scroll", "touchstart", "pointerdown", "keydown", "input"].forEach(function (name) {
      window.addEventListener(name, function () { lastInput = Date.now(); }, { passive: true });
    });
    var every = (parseInt(document.body.getAttribute("data-heartbeat"), 10) || 20) * 1000;
    var beat = function () {
      if (document.visibilityState === "visible" && Date.now() - lastInput < 60000 &&
          navigator.onLine !== false) {
        api("POST", "/api/v1/me/heartbeat", { lesson_id: lessonId }).catch(function () {});
      }
    };
    beat();
    setInterval(beat, every);
  }

  /* The quiz, checked on the server without leaving the page. */
  var quiz = document.querySelector("form[data-quiz]");
  if (quiz) {
    quiz.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var msg = quiz.querySelector(".form-msg");
      var answers = {};
      var sets = quiz.querySelectorAll("fieldset[data-qid]");
      for (var i = 0; i < sets.length; i++) {
        var fs = sets[i], id = fs.getAttribute("data-qid"), kind = fs.getAttribute("data-kind");
        var picked = fs.querySelectorAll("input:checked");
        if (!picked.length) {
          say(msg, "Bạn chưa trả lời câu " + (i + 1) + ".", true);
          fs.querySelector("input:not([type=hidden])").focus();
          return;
        }
        if (kind === "true_false") { answers[id] = picked[0].value === "true"; }
        else if (kind === "single") { answers[id] = parseInt(picked[0].value, 10); }
        else { answers[id] = Array.prototype.map.call(picked, function (x) { return parseInt(x.value, 10); }); }
      }
      say(msg, "Đang chấm…");
      var attempt = parseInt(quiz.querySelector("input[name=attempt_id]").value, 10);
      api("POST", "/api/v1/lessons/" + quiz.getAttribute("data-quiz") + "/quiz-attempts",
          { attempt_id: attempt, answers: answers })
        .then(function (res) {
          if (res.status === 409) { location.reload(); return; }
          if (res.status !== 200) { say(msg, res.data.detail || "Chưa nộp được, hãy thử lại.", true); return; }
          showQuizResult(quiz, res.data, msg);
        })
        .catch(function () { say(msg, "Mất kết nối mạng. Hãy thử nộp lại khi có mạng.", true); });
    });
  }

  function showQuizResult(form, result, msg) {
    result.questions.forEach(function (q) {
      var fs = form.querySelector('fieldset[data-qid="' + q.id + '"]');
      if (!fs) { return; }
      fs.classList.add(q.correct ? "right" : "wrong");
      var inputs = fs.querySelectorAll("input:not([type=hidden])");
      Array.prototype.forEach.call(inputs, function (input) {
        input.disabled = true;
        var value = input.value, label = input.parentNode;
        var right = q.kind === "true_false" ? String(q.right) === value
          : (Array.isArray(q.right) ? q.right.indexOf(+value) >= 0 : q.right === +value);
        if (right) { label.classList.add("opt-right"); }
        else if (input.checked) { label.classList.add("opt-wrong"); }
      });
      var explain = fs.querySelector(".explain");
      explain.hidden = false;
      explain.textContent = (q.correct ? "Đúng. " : "Chưa đúng. ") + q.explanation;
    });
    var text = "Đúng " + result.correct + "/" + result.total + " câu (" + result.percent + "%). " +
      (result.passed ? "Đạt!" : "Chưa đạt: cần " + result.pass_mark + "%. Đọc lại bài rồi làm lượt mới nhé.");
    say(msg, text, !result.passed);
    var button = form.querySelector("button[type=submit]");
    var again = el("a", "btn secondary", result.passed ? "Làm lại để luyện thêm" : "Làm lượt mới");
    again.href = location.pathname + "?luot=" + Date.now() + "#quiz";
    button.parentNode.replaceChild(again, button);
  }

  /* Drafts belong to the account they were written under: households share one phone.
     Keys name the signed-in account (the page's bdhai-account meta); a signed-in page drops
     every other account's drafts (and the older drafts that named none) before anything
     reads them; sending the sign-out or account-deletion form drops them all. A signed-out
     page keeps them, so a learner whose session ran out finds the draft after signing in. */
  var accountMeta = document.querySelector('meta[name="bdhai-account"]');
  var ACCOUNT = accountMeta ? accountMeta.getAttribute("content") : "";
  var DRAFTS = "bdhai:draft:", MINE = DRAFTS + "a" + ACCOUNT + ":";
  function dropDrafts(keep) {
    try {
      for (var i = localStorage.length - 1; i >= 0; i--) {
        var k = localStorage.key(i);
        if (k && k.indexOf(DRAFTS) === 0 && !(keep && k.indexOf(keep) === 0)) { localStorage.removeItem(k); }
      }
    } catch (e) {}
  }
  if (ACCOUNT) { dropDrafts(MINE); }
  document.addEventListener("submit", function (ev) {
    var action = ev.target.getAttribute && ev.target.getAttribute("action");
    var path = action ? new URL(action, location.href).pathname : "";
    if (path === "/logout" || path === "/account/data/delete") { dropDrafts(""); }
  }, true);

  /* Submissions: a character counter, a draft kept on the phone, sending when online, then
     "đang chấm" until the grade arrives (polling the API with a slowing interval). */
  function renderSubmission(box, s) {
    box.setAttribute("data-status", s.status);
    box.className = "submission st-" + s.status;
    var keep = box.querySelector(".thumb");
    box.textContent = "";
    box.appendChild(el("p", "small muted", "Vừa gửi"));
    if (keep) { box.appendChild(keep); }
    if ((s.status === "queued" || s.status === "grading") && s.score === null) {
      var line = el("p", "status-line");
      line.appendChild(el("span", "spinner"));
      line.appendChild(document.createTextNode(" "));
      line.appendChild(el("strong", "", "Đang chấm…"));
      line.appendChild(document.createTextNode(" Kết quả sẽ hiện ở đây."));
      box.appendChild(line);
      return;
    }
    if (s.status === "failed") {
      box.appendChild(el("p", "status-line", "Chưa chấm được. Hệ thống sẽ chấm lại; bạn không cần gửi lại."));
      return;
    }
    var score = el("p", "status-line score " + (s.passed ? "ok-text" : "err-text"));
    score.appendChild(el("strong", "", Math.round(s.score) + "/100 · " + (s.passed ? "Đạt" : "Chưa đạt")));
    box.appendChild(score);
    var list = el("ul", "criteria small");
    s.criteria.forEach(function (c) {
      var li = el("li");
      li.appendChild(el("strong", "", c.name + ": "));
      li.appendChild(document.createTextNode((c.score === null ? "—" : BANDS[c.score]) + (c.comment ? ". " + c.comment : "")));
      list.appendChild(li);
    });
    box.appendChild(list);
    if (s.feedback) { box.appendChild(el("p", "feedback", s.feedback)); }
    var section = box.closest("section");
    var sent = section && section.querySelector(".form-msg");
    if (sent && sent.textContent.indexOf("Đã gửi") === 0) { sent.hidden = true; }
    if (s.provisional) {
      box.appendChild(el("p", "small muted", "Điểm tạm thời do máy chấm ngoại tuyến; bài sẽ được chấm lại và điểm có thể thay đổi."));
    }
  }

  function follow(box, id) {
    var wait = 3000, started = Date.now();
    var tick = function () {
      api("GET", "/api/v1/submissions/" + id).then(function (res) {
        if (res.status !== 200) { return; }
        renderSubmission(box, res.data);
        if ((res.data.status === "queued" || res.data.status === "grading") && res.data.score === null) {
          if (Date.now() - started < 600000) {
            wait = Math.min(wait * 1.3, 15000);
            setTimeout(tick, wait);
          } else {
            box.appendChild(el("p", "small muted", "Bài vẫn đang chờ chấm; kết quả sẽ hiện khi bạn quay lại trang này."));
          }
        }
      }).catch(function () { setTimeout(tick, 15000); });
    };
    tick();
  }

  Array.prototype.forEach.call(document.querySelectorAll(".submission[data-submission-id]"), function (box) {
    var status = box.getAttribute("data-status");
    if (status === "queued" || status === "grading") { follow(box, box.getAttribute("data-submission-id")); }
  });

  Array.prototype.forEach.call(document.querySelectorAll("form[data-submit]"), function (form) {
    if (!ACCOUNT) { return; }
    var lesson = form.getAttribute("data-submit"), kind = form.getAttribute("data-kind");
    var key = MINE + lesson + ":" + kind;
    var text = form.querySelector("textarea"), counter = form.querySelector("[data-counter]");
    var clientId = form.querySelector("input[name=client_id]"), msg = form.querySelector(".form-msg");
    var results = document.querySelector('[data-results="' + kind + '"]');
    var min = parseInt(text.getAttribute("minlength"), 10), max = parseInt(text.getAttribute("maxlength"), 10);
    var store = {
      load: function () {
        var d = null;
        try { d = JSON.parse(localStorage.getItem(key) || "null"); } catch (e) {}
        return d && d.account === ACCOUNT ? d : null;
      },
      save: function (pending) {
        try {
          localStorage.setItem(key, JSON.stringify({ account: ACCOUNT, text: text.value,
            client_id: clientId.value, pending: !!pending }));
        } catch (e) {}
      },
      clear: function () { try { localStorage.removeItem(key); } catch (e) {} }
    };
    function count() {
      var n = text.value.trim().length;
      counter.textContent = n + "/" + max + " ký tự" + (n < min ? " (cần ít nhất " + min + ")" : "");
    }
    var draft = store.load();
    if (draft && draft.text && !text.value) {
      text.value = draft.text;
      clientId.value = draft.client_id || clientId.value;
      say(msg, draft.pending ? "Bài chưa gửi được đang chờ mạng; sẽ tự gửi khi có mạng." : "Đã khôi phục bản nháp trên máy của bạn.");
    }
    count();
    text.addEventListener("input", function () { count(); store.save(false); });

    var sending = false;
    function send() {
      if (sending) { return; }
      var n = text.value.trim().length;
      if (n < min) { say(msg, "Bài làm còn quá ngắn: cần ít nhất " + min + " ký tự.", true); text.focus(); return; }
      var file = form.querySelector("input[type=file]");
      if (file && file.required && !file.files.length) { say(msg, "Hãy chọn ảnh để gửi kèm.", true); file.focus(); return; }
      if (navigator.onLine === false) {
        store.save(true);
        say(msg, "Chưa có mạng. Bài đã được giữ trên máy và sẽ tự gửi khi có mạng.");
        return;
      }
      sending = true;
      say(msg, "Đang gửi…");
      var body = new FormData(form);
      body.set("account", ACCOUNT);  // the server refuses a draft of another account
      api("POST", "/api/v1/lessons/" + lesson + "/submissions", body, true)
        .then(function (res) {
          sending = false;
          if (res.status === 409 && res.data.code === "other_account") {
            store.clear();
            text.value = "";
            count();
            say(msg, res.data.detail + " Bản nháp đã được xoá khỏi máy.", true);
            return;
          }
          if (res.status === 201 || (res.status === 409 && res.data.submission_id)) {
            store.clear();
            var id = res.status === 201 ? res.data.id : res.data.submission_id;
            var box = el("article", "submission");
            box.setAttribute("aria-live", "polite");
            results.insertBefore(box, results.firstChild);
            if (res.status === 201) { renderSubmission(box, res.data); }
            follow(box, id);
            text.value = "";
            clientId.value = newId();
            if (file) { file.value = ""; }
            count();
            say(msg, "Đã gửi. Bài đang được chấm.");
            var left = form.querySelector("[data-left]");
            if (left && res.status === 201) {
              var n = Math.max(0, parseInt(left.getAttribute("data-left"), 10) - 1);
              left.setAttribute("data-left", n);
              left.textContent = n ? "Hôm nay bạn còn gửi được " + n + " lần. Điểm cao nhất được giữ."
                : "Hôm nay bạn đã gửi đủ số lần cho phần này. Ngày mai bạn có thể gửi lại.";
              form.querySelector("button[type=submit]").disabled = !n;
            }
            return;
          }
          if (res.status === 401) {
            store.save(true);
            say(msg, "Phiên đăng nhập đã hết. Hãy đăng nhập lại; bài của bạn vẫn được giữ trên máy.", true);
            return;
          }
          say(msg, res.data.detail || "Chưa gửi được, hãy thử lại.", true);
        })
        .catch(function () {
          sending = false;
          store.save(true);
          say(msg, "Mất kết nối. Bài đã được giữ trên máy và sẽ tự gửi khi có mạng.");
        });
    }
    form.addEventListener("submit", function (ev) { ev.preventDefault(); send(); });
    window.addEventListener("online", function () {
      var saved = store.load();
      if (saved && saved.pending) { send(); }
    });
    if (draft && draft.pending && navigator.onLine !== false) { send(); }
  });
})();
