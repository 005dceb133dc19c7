Console.WriteLine("KnowPay benchmark: scenarios arrive with the benchmark issue.");
